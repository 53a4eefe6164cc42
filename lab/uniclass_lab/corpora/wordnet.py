"""WordNet 3.0 (train): glosses -> supersense and hypernym (``wordnet``), and -> topic domain
(``wordnet_topics``), with seeded negatives."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import Corpus, CorpusError, CorpusItem, _rng, make_example
from .download import _debian_download

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
                    n_hypernym_negatives: int = 3) -> Iterator[CorpusItem]:
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


def convert_wordnet_topics(wordnet_dir: Path, *, n_negatives: int = 5) -> Iterator[CorpusItem]:
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


CORPORA: tuple[Corpus, ...] = (
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
)
