"""The registry of corpora (name -> :class:`Corpus`, in a fixed order) and :func:`fetch`, which downloads
and converts a corpus into the cache once and afterwards only returns its path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from . import bbc, extra, foldoc, rotten_tomatoes, snli, vader, wordnet
from .base import COMPLETE_MARKER, FORMAT_VERSION, Corpus, _write_text_atomic, default_cache_dir, write_jsonl_atomic

# Order matters: `uniclass data list`, `fetch` with no names and eval_sets() follow it.
CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for module in (snli, wordnet, vader, bbc, rotten_tomatoes, foldoc, extra)
    for corpus in module.CORPORA
}


def eval_sets() -> list[str]:
    """Names of the development evaluation sets (role ``eval``), in registry order; never train on these."""
    return [name for name, corpus in CORPORA.items() if corpus.role == "eval"]


# The development sets every study reports on (benchmarks/, recipes/gpu_sweep.py), in this order: the eval
# corpora of the registry as the studies were run. Named, not recomputed, so that an eval corpus added later
# does not silently change the comparisons of committed results; each must be an eval corpus.
DEV_SETS: tuple[str, ...] = ("bbc_news", "rotten_tomatoes", "foldoc")
if not set(DEV_SETS) <= set(eval_sets()):
    raise RuntimeError(f"DEV_SETS {DEV_SETS} must be eval corpora of the registry ({eval_sets()})")


def _ensure_raw(corpus: Corpus, raw_dir: Path, *, force: bool) -> dict[str, Any]:
    """Download unless a complete download is cached; a partial one (no marker) is discarded and redone."""
    marker = raw_dir / COMPLETE_MARKER
    if not force and marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    raw_dir.mkdir(parents=True)
    info = corpus.download(raw_dir)
    _write_text_atomic(marker, json.dumps(info, indent=2) + "\n")
    return info


def fetch(name: str, cache_dir: Path | None = None, *, force: bool = False) -> Path:
    """Path of ``<cache>/<name>.jsonl``, downloading and converting only when it (or its meta) is missing.

    ``force=True`` downloads and converts again. Raw files stay under ``<cache>/raw/<name>/`` so a changed
    converter can rerun without the network (delete ``<name>.jsonl`` to reconvert).
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    corpus = CORPORA[name]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out, meta_path = cache / f"{name}.jsonl", cache / f"{name}.meta.json"
    if not force and out.is_file() and meta_path.is_file():
        return out
    source = _ensure_raw(corpus, cache / "raw" / name, force=force)
    stats = write_jsonl_atomic(out, corpus.convert(cache / "raw" / name))
    meta = {
        "name": name,
        "role": corpus.role,
        "description": corpus.description,
        "license": corpus.license,
        "source": {**source, "description": corpus.source},
        "format_version": FORMAT_VERSION,
        **stats,
    }
    _write_text_atomic(meta_path, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return out


def read_meta(name: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """The meta file written by :func:`fetch` (counts, source, licence)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return json.loads((cache / f"{name}.meta.json").read_text(encoding="utf-8"))
