"""LabelIndex: building, searching, ranks, saving and loading as plain files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from uniclass.shortlist import LabelIndex, check_k, check_labels
from uniclass.shortlist.index import LABELS_FILE, META_FILE, VECTORS_FILE


class FakeEncoder:
    """Deterministic unit vectors from character counts: no model, the same string gives the same vector."""

    name = "fake:0"

    def _vec(self, s: str) -> np.ndarray:
        v = np.zeros(26, dtype=np.float32)
        for c in s.lower():
            if "a" <= c <= "z":
                v[ord(c) - 97] += 1
        return v / max(np.linalg.norm(v), 1e-9)

    def encode_labels(self, labels, batch_size=256):
        return np.stack([self._vec(x) for x in labels])

    def encode_texts(self, texts, batch_size=64):
        return np.stack([self._vec(x) for x in texts])


LABELS = ["apple", "banana", "cherry", "zebra", "quartz"]


def test_build_and_search_returns_the_nearest_labels_best_first():
    enc = FakeEncoder()
    index = LabelIndex.build(LABELS, enc)
    assert len(index) == 5 and index.vectors.shape == (5, 26) and index.retriever == "fake:0"
    hits = index.search(enc.encode_texts(["banana", "zebras"]), 2)
    assert hits[0][0] == LABELS.index("banana") and hits[1][0] == LABELS.index("zebra")
    assert all(len(h) == 2 for h in hits)
    assert index.search(enc.encode_texts(["banana"]), 99)[0][0] == 1  # k above the size: every label


def test_ranks_are_one_based_and_reject_unknown_labels():
    enc = FakeEncoder()
    index = LabelIndex.build(LABELS, enc)
    ranks = index.ranks(enc.encode_texts(["cherry", "quartz"]), [["cherry"], ["quartz", "apple"]])
    assert ranks[0] == 1 and ranks[1] == 1 and ranks[2] > 1
    with pytest.raises(ValueError, match="not in the label index"):
        index.ranks(enc.encode_texts(["x"]), [["mango"]])


def test_save_and_load_round_trip_without_pickle(tmp_path: Path):
    index = LabelIndex.build(LABELS + ["label, with comma"], FakeEncoder())
    index.k, index.recall, index.recall_curve = 3, 0.98, {1: 0.5, 3: 1.0}
    folder = index.save(tmp_path / "idx")
    assert sorted(p.name for p in folder.iterdir()) == sorted([LABELS_FILE, VECTORS_FILE, META_FILE])
    assert (folder / LABELS_FILE).read_text(encoding="utf-8").splitlines()[-1] == "label, with comma"
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["k"] == 3 and meta["labels"] == 6 and meta["retriever"] == "fake:0"
    loaded = LabelIndex.load(folder)
    assert loaded.labels == index.labels and loaded.k == 3 and loaded.recall == 0.98
    assert loaded.recall_curve == {1: 0.5, 3: 1.0}
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    assert loaded.encoder is None  # bound again by the classifier that uses it


def test_load_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="not a label index"):
        LabelIndex.load(tmp_path)
    folder = LabelIndex.build(LABELS, FakeEncoder()).save(tmp_path / "idx")
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format"):
        LabelIndex.load(folder)
    (folder / META_FILE).write_text(json.dumps(meta))
    (folder / LABELS_FILE).write_text("apple\nbanana\n")
    with pytest.raises(ValueError, match="2 labels but vectors"):
        LabelIndex.load(folder)


@pytest.mark.parametrize("labels, error", [
    ([], ValueError), ("apple", TypeError), (["a", "a"], ValueError), (["a\nb"], ValueError), ([""], ValueError),
    ([3], TypeError), (["<<LABEL>>"], ValueError),
])
def test_bad_label_sets_are_rejected(labels, error):
    with pytest.raises(error):
        check_labels(labels)


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", True, None])
def test_bad_k_is_rejected(k):
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        check_k(k)
