"""Measuring tools that ship with the package: the load test of ``uniclass serve`` and the parity fixture selection.

* :mod:`.load_test` -- N concurrent clients against a server (``python -m uniclass.bench.load_test``): throughput,
  latency percentiles, micro-batching and memory, with or without abusive clients.
* :mod:`.parity` -- which recorded calls of the official parity fixtures the implementation must reproduce
  (``tests/test_parity.py`` and ``benchmarks/parity_report.py`` select through it).

The speed benchmarks against other models and the official package, which fetch corpora or build a virtual
environment, are the lab's (``python -m uniclass_lab bench``); ``uniclass classify`` reports texts/s on the
user's own file.
"""

from __future__ import annotations
