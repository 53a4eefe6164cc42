"""Evaluation examples by corpus name or file: the lab's front to :func:`uniclass.evaluation.runner.load_eval_data`.

The product reads labelled files only; the lab also accepts the name of a corpus of :mod:`uniclass_lab.corpora`,
fetched into the cache on first use. The seeded subset is the product's, so a name and the file it fetched give
the same examples.
"""

from __future__ import annotations

from pathlib import Path

from uniclass.data.formats import Example
from uniclass.evaluation.runner import load_eval_data as load_eval_file


def load_eval_data(data: str | Path, limit: int | None = None, seed: int = 0) -> list[Example]:
    """A JSON/JSONL file, or the name of a corpus of :mod:`uniclass_lab.corpora` (fetched into the cache).

    ``limit`` keeps a seeded random subset (the same one for every model, so results compare).
    """
    path = Path(data)
    if not path.is_file():
        from .corpora import CORPORA, fetch

        if str(data) not in CORPORA:
            raise FileNotFoundError(f"{data}: neither a file nor a corpus name ({', '.join(sorted(CORPORA))})")
        path = fetch(str(data))
    return load_eval_file(path, limit, seed)
