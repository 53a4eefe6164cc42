"""``uniclass bench``: the speed benchmarks of issue 5, and the other measuring tools a user runs.

This is product, not research: it ships with the package so anyone can measure uniclass on their own machine
and data. With it live the load test of ``uniclass serve`` (:mod:`.load_test`, ``python -m
uniclass.bench.load_test``) and the selection of the official parity fixtures (:mod:`.parity`). The research
scripts that produced ``benchmarks/RESULTS.md`` stay in ``benchmarks/`` and import these.

* :mod:`.labels` -- label scaling after the GLiClass paper's Table 6 (uni-encoder, bi-encoder with cached
  label vectors, NLI cross-encoder of the same backbone).
* :mod:`.official` -- uniclass against the official ``gliclass`` package on the same checkpoint; the official
  side runs :mod:`.official_runner` inside its own virtual environment.
* :mod:`.efficiency` -- analytic FLOPs per text, achieved GFLOP/s and the measured fp32 matmul peak.
* :mod:`.common` -- timing, thread settings, machine description and result files shared by all three;
  :mod:`.workloads` -- texts, labels and the comparison models. The command line is
  :mod:`uniclass.commands.bench`.

Every benchmark writes ``<out>/<name>.json`` (raw numbers and the full setup) and ``<out>/<name>.md`` (a
markdown table); the label benchmark also writes ``<out>/labels.png``. Nothing here asserts timings: the
numbers are for a human reading them, on a machine whose load is recorded with them.
"""

from __future__ import annotations
