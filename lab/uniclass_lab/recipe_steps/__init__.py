"""The default model's training recipes as importable code, shared by the scripts under ``recipes/``.

:mod:`.default` is the shipped v2 recipe (``recipes/train_default.py``, ``recipes/gpu_sweep.py``), :mod:`.v1`
the first shipped model's (``recipes/train_v1.py`` and the experiments built on it). Nothing here is imported
by ``uniclass`` itself; the scripts import it, so no script imports another.
"""
