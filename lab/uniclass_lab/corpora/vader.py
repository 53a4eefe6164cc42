"""VADER (train): human-rated tweets and Amazon snippets -> positive/negative/neutral, in varied phrasings."""

from __future__ import annotations

import html
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import _WORD, Corpus, CorpusError, CorpusItem, _clean, _decode, _rng, make_example
from .download import _extract_tar_member, _pypi_download

# Files of hutto_ICWSM_2014.tar.gz used for training. The movie-review snippets are left out on purpose:
# 97% of them (10,294 of 10,605) are verbatim Rotten Tomatoes snippets that also occur in the
# ``rotten_tomatoes`` evaluation set, so training on them would leak the evaluation data. NYT editorial
# snippets are excluded per the data README.
VADER_SOURCES: tuple[str, ...] = ("tweets", "amazonReviewSnippets")
# (positive, negative, neutral) phrasings; one set is chosen per item, so the model does not tie sentiment
# to a single wording.
VADER_PHRASINGS: tuple[tuple[str, str, str], ...] = (
    ("positive", "negative", "neutral"),
    ("positive sentiment", "negative sentiment", "neutral sentiment"),
    ("good", "bad", "neither good nor bad"),
    ("praise", "complaint", "neutral statement"),
    ("favorable", "unfavorable", "neutral"),
    ("positive opinion", "negative opinion", "no opinion"),
)
VADER_POLAR = 1.0  # |valence| >= 1.0: positive/negative
VADER_NEUTRAL = 0.5  # |valence| < 0.5: neutral; in between: dropped as ambiguous


def vader_polarity(valence: float) -> int | None:
    """0 positive, 1 negative, 2 neutral (indices into a phrasing), ``None`` for ambiguous ratings."""
    if valence >= VADER_POLAR:
        return 0
    if valence <= -VADER_POLAR:
        return 1
    if abs(valence) < VADER_NEUTRAL:
        return 2
    return None


def convert_vader(tarball: Path, sources: Sequence[str] = VADER_SOURCES) -> Iterator[CorpusItem]:
    """Single-label sentiment items from the ``<source>_GroundTruth.txt`` files (``id TAB valence TAB text``).

    Mean human valence (-4..4) -> positive (>= 1), negative (<= -1) or neutral (|v| < 0.5); items with
    0.5 <= |v| < 1 are dropped because raters barely leaned either way (cleaner labels beat a few more items).
    Per item a seeded generator (source and id) picks one phrasing from ``VADER_PHRASINGS``; neutral items
    always offer the neutral phrase, polar items offer it half of the time so the model also learns that
    "neutral" can be wrong. HTML entities (``&amp;`` in tweets) are unescaped. Snippets without a word
    (``"!"``, ``"..."``) are dropped.
    """
    wanted = {f"{source}_GroundTruth.txt": source for source in sources}
    found: dict[str, str] = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                handle = tar.extractfile(member)
                assert handle is not None
                with handle:
                    found[wanted[name]] = _decode(handle.read())
    missing = [s for s in sources if s not in found]
    if missing:
        raise CorpusError(f"{tarball.name}: missing ground-truth files for {missing}")
    for source in sources:
        for line in found[source].splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            item_id, valence, text = parts[0].strip(), float(parts[1]), _clean(html.unescape("\t".join(parts[2:])))
            polarity = vader_polarity(valence)
            if polarity is None or not _WORD.search(text):
                continue
            rng = _rng("vader", source, item_id)
            phrasing = VADER_PHRASINGS[rng.randrange(len(VADER_PHRASINGS))]
            with_neutral = polarity == 2 or rng.random() < 0.5
            labels = list(phrasing if with_neutral else phrasing[:2])
            rng.shuffle(labels)
            yield make_example(text, labels, [phrasing[polarity]])


def _download_vader(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("vaderSentiment==3.3.2", raw_dir, sdist=True)
    _extract_tar_member(archive, "additional_resources/hutto_ICWSM_2014.tar.gz", raw_dir)
    return info


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="vader",
        role="train",
        description="VADER human-rated tweets and Amazon snippets -> positive/negative/neutral, varied phrasings",
        license="MIT",
        source="PyPI vaderSentiment==3.3.2 (sdist), additional_resources/hutto_ICWSM_2014.tar.gz",
        download=_download_vader,
        convert=lambda raw: convert_vader(raw / "hutto_ICWSM_2014.tar.gz"),
    ),
)
