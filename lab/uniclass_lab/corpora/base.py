"""What every corpus shares: the item format and its checks, atomic JSONL writing, the cache folder, the
:class:`Corpus` record of the registry, and small seeded text helpers the converters use."""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uniclass.config import find_reserved_marker

FORMAT_VERSION = 1
ROLES = ("train", "eval")
COMPLETE_MARKER = ".complete"

CorpusItem = dict[str, Any]


class CorpusError(RuntimeError):
    """A download failed or a source file did not look as expected (a changed upstream format, usually)."""


def default_cache_dir() -> Path:
    """``$UNICLASS_CACHE`` if set, else ``~/.cache/uniclass``: outside any repository, so data is never committed."""
    env = os.environ.get("UNICLASS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "uniclass"


def make_example(text: str, all_labels: Sequence[str], true_labels: Sequence[str]) -> CorpusItem:
    """Build one item and check the invariants every converter must keep (a failure here is a converter bug)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty text: {text!r}")
    all_labels = list(all_labels)
    true_labels = list(true_labels)
    if not all_labels or any(not isinstance(label, str) or not label.strip() for label in all_labels):
        raise ValueError(f"labels must be non-empty strings: {all_labels!r}")
    if len(set(all_labels)) != len(all_labels):
        raise ValueError(f"duplicate labels: {all_labels!r}")
    if len(set(true_labels)) != len(true_labels) or not set(true_labels) <= set(all_labels):
        raise ValueError(f"true labels {true_labels!r} must be distinct and among {all_labels!r}")
    return {"text": text, "all_labels": all_labels, "true_labels": true_labels}


def _has_reserved_marker(example: CorpusItem) -> bool:
    """The model's own markers (``<<LABEL>>`` ...) must not occur in data, or they would be read as structure."""
    return any(find_reserved_marker(value) for value in [example["text"], *example["all_labels"]])


def _atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_text_atomic(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_path(path)
    try:
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_jsonl_atomic(path: Path, examples: Iterable[CorpusItem]) -> dict[str, Any]:
    """Write items as JSONL through a temporary file; return counts for the meta file.

    Items containing a reserved marker are skipped (and counted) rather than failing the whole corpus.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_path(path)
    n = skipped = n_candidates = n_true = 0
    true_counts: Counter[str] = Counter()
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for example in examples:
                if _has_reserved_marker(example):
                    skipped += 1
                    continue
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
                n += 1
                n_candidates += len(example["all_labels"])
                n_true += len(example["true_labels"])
                true_counts.update(example["true_labels"])
        if n == 0:
            raise CorpusError(f"{path.name}: the converter produced no examples (has the source format changed?)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    stats: dict[str, Any] = {
        "count": n,
        "skipped_reserved_marker": skipped,
        "mean_all_labels": round(n_candidates / n, 3),
        "mean_true_labels": round(n_true / n, 3),
        "distinct_true_labels": len(true_counts),
    }
    # A full distribution is useful for fixed label sets (the eval corpora); for open label sets keep the head.
    stats["true_label_counts"] = dict(true_counts.most_common(None if len(true_counts) <= 50 else 50))
    return stats


def _clean(text: str) -> str:
    """Collapse all whitespace runs (newlines, tabs, CRs) to single spaces."""
    return " ".join(text.split())


def _decode(data: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else latin-1.

    The sources are documented as latin-1, but e.g. VADER's movie file is UTF-8 ("clichés"); decoding UTF-8 as
    latin-1 would produce mojibake, while latin-1 text with accents is (almost) never valid UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_WORD = re.compile(r"[^\W\d_]{2}")  # two letters in a row: "!" or "...", rated neutral, say nothing


def _rng(*parts: object) -> random.Random:
    """A generator seeded from a string: identical across runs and machines (string seeds do not use hash())."""
    return random.Random("uniclass|" + "|".join(str(p) for p in parts))


@dataclass(frozen=True)
class Corpus:
    """A corpus: where it comes from, what it is for, and the two steps that make its JSONL.

    ``download(raw_dir)`` fetches into ``raw_dir`` and returns source facts for the meta file (package,
    version, archive, sha256); ``convert(raw_dir)`` reads only local files and yields items.
    """

    name: str
    role: str
    description: str
    license: str
    source: str
    download: Callable[[Path], dict[str, Any]]
    convert: Callable[[Path], Iterable[CorpusItem]]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role must be one of {ROLES}, got {self.role!r}")
