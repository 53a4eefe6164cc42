"""FOLDOC (eval): computing definitions -> one of 15 frequent domains (single-label), read from the
dictd files of Debian's dict-foldoc."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from .base import Corpus, CorpusError, CorpusItem, _clean, make_example
from .download import _debian_download

DICTD_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DICTD_DIGIT = {c: i for i, c in enumerate(DICTD_B64_ALPHABET)}

# The 15 most frequent first domain tags of FOLDOC (122 distinct; counted on dict-foldoc 20230119-1, over
# entries whose first sense starts with a tag), leaving out "jargon" (418 entries): it marks a register
# (hacker slang about any topic), not a subject, so it would be unanswerable as a class. These 15 cover
# ~5,200 of the ~8,400 tagged entries (4,855 items after the filters of parse_foldoc_entry, 134 to 1,051 per
# class); the long tail has too few items per class for a stable macro-F1.
FOLDOC_DOMAINS: dict[str, str] = {
    "language": "programming language",
    "networking": "networking",
    "programming": "programming",
    "operating system": "operating system",
    "hardware": "computer hardware",
    "communications": "telecommunications",
    "company": "company",
    "mathematics": "mathematics",
    "storage": "data storage",
    "tool": "software tool",
    "database": "database",
    "body": "organization",  # FOLDOC's tag for consortia, standards bodies and other organisations
    "character": "text character",
    "processor": "processor",
    "computer": "computer system",
}
_FOLDOC_TAG = re.compile(r"\s*(1\.\s*)?<([^<>@\n]+)>")
_FOLDOC_XREF_ONLY = re.compile(r"\s*\{[^{}]*\}[\s.]*$")  # "<tag> {other entry}." is a redirect, not a definition
# 228 "<networking> The {country code} for Austria." entries: one sentence with a country name swapped, which
# would weigh the networking class with near-duplicates.
_FOLDOC_TEMPLATED = re.compile(r"\s*The \{?country code\}? for ")
_FOLDOC_DATE = re.compile(r"\(\d{4}-\d{2}-\d{2}\)\s*$")


def dictd_b64decode(value: str) -> int:
    """Decode a dictd index number: base-64 positional digits, most significant first (no padding).

    dictd uses the base64 alphabet as digits, so "A" = 0, "B" = 1, "BA" = 64; standard base64 decoding
    would give different numbers.
    """
    if not value:
        raise ValueError("empty dictd number")
    result = 0
    for char in value:
        try:
            result = result * 64 + _DICTD_DIGIT[char]
        except KeyError:
            raise ValueError(f"invalid dictd base64 digit {char!r} in {value!r}") from None
    return result


def read_dictd_index(path: Path) -> list[tuple[str, int, int]]:
    """``(headword, offset, length)`` per index line; offsets and lengths are bytes of the decompressed dict."""
    entries: list[tuple[str, int, int]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            entries.append((parts[0], dictd_b64decode(parts[1]), dictd_b64decode(parts[2])))
    return entries


def parse_foldoc_entry(entry: str) -> tuple[str, str] | None:
    """``(domain, text)`` of a FOLDOC entry, or ``None`` when its first sense carries no domain tag.

    The entry starts with the headword and its aliases, then a blank line, then the definition, whose first
    sense starts with ``<domain>`` or ``<domain, subdomain>`` (optionally after "1."); the first domain is
    the label. For multi-sense entries only sense 1 is kept (later senses belong to other domains); cross-
    reference braces and the trailing revision date are removed and whitespace is collapsed. Entries whose
    definition is only a cross-reference (``<networking> {Asynchronous Transfer Mode}.``) are redirects
    that say nothing about the domain, and the templated country-code entries are near-duplicates: both are
    skipped.
    """
    _header, sep, body = entry.partition("\n\n")
    match = _FOLDOC_TAG.match(body) if sep else None
    if match is None:
        return None
    domain = match.group(2).split(",")[0].strip().lower()
    body = body[match.end():]
    if match.group(1):
        body = re.split(r"\n\s*2\.\s", body, maxsplit=1)[0]
    if _FOLDOC_XREF_ONLY.match(body) or _FOLDOC_TEMPLATED.match(body):
        return None
    body = _FOLDOC_DATE.sub("", body.strip()).replace("{", "").replace("}", "")
    text = _clean(body)
    return (domain, text) if text else None


def convert_foldoc(index_path: Path, dict_path: Path, domains: Mapping[str, str] = FOLDOC_DOMAINS) -> Iterator[CorpusItem]:
    """Single-label items "definition -> computing domain" for entries whose domain is in ``domains``.

    Index lines that are aliases of the same entry (same offset and length) are read once; entries are
    yielded in dictionary order. ``all_labels`` is the readable phrase of every domain in ``domains``.
    """
    data = gzip.decompress(dict_path.read_bytes())  # .dict.dz is gzip (with dictzip's random-access header)
    spans = sorted({(offset, length) for _, offset, length in read_dictd_index(index_path)})
    labels = list(domains.values())
    for offset, length in spans:
        if offset + length > len(data):
            raise CorpusError(f"{index_path.name}: entry at {offset}+{length} beyond the dictionary ({len(data)})")
        parsed = parse_foldoc_entry(data[offset : offset + length].decode("utf-8", errors="replace"))
        if parsed is not None and parsed[0] in domains:
            yield make_example(parsed[1], labels, [domains[parsed[0]]])


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="foldoc",
        role="eval",
        description="FOLDOC computing definitions -> one of 15 frequent domains (single-label)",
        license="GFDL 1.1 or later",
        source="Debian dict-foldoc, usr/share/dictd/foldoc.{index,dict.dz}",
        download=_debian_download("dict-foldoc"),
        convert=lambda raw: convert_foldoc(raw / "root/usr/share/dictd/foldoc.index",
                                          raw / "root/usr/share/dictd/foldoc.dict.dz"),
    ),
)
