"""Speed benchmarks of the lab: ``python -m uniclass_lab bench labels|official|efficiency`` and the shortlist study.

* :mod:`.labels` -- label scaling after the GLiClass paper's Table 6 (uni-encoder, bi-encoder with cached
  label vectors, NLI cross-encoder of the same backbone).
* :mod:`.official` -- uniclass against the official ``gliclass`` package on the same checkpoint; the official
  side runs :mod:`.official_runner` inside its own virtual environment.
* :mod:`.efficiency` -- analytic FLOPs per text, achieved GFLOP/s and the measured fp32 matmul peak.
* :mod:`.shortlist` -- large label sets: retriever recall, shortlisting speed and accuracy on the corpora
  (``python -m uniclass_lab.bench.shortlist``).
* :mod:`.common` -- timing, thread settings, machine description and result files shared by all of them;
  :mod:`.workloads` -- texts, labels and the comparison models. The command line is :mod:`.cli`.

Every benchmark writes ``<out>/<name>.json`` (raw numbers and the full setup) and ``<out>/<name>.md`` (a
markdown table); the label benchmark also writes ``<out>/labels.png``. Nothing here asserts timings: the
numbers are for a human reading them, on a machine whose load is recorded with them.
"""

from __future__ import annotations
