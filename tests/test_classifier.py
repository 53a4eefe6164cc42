"""Classifier behaviour: API contract, batch invariance, long inputs, validation, save/load round trips."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from tests.conftest import PARITY, load_expected

TEXTS = load_expected("uni_bert_default")["texts"]
LABELS = ["sports", "business and finance", "science", "health care", "question"]


@pytest.fixture(scope="module")
def clf(parity_classifier):
    return parity_classifier("uni_bert_promptfirst_avg_wdot")  # padding-sensitive options: the hard case


# ---------------------------------------------------------------- contract of scores / classify
def test_scores_shapes_and_single_text(clf) -> None:
    many = clf.scores(TEXTS, LABELS)
    assert len(many) == len(TEXTS) and all(len(row) == len(LABELS) for row in many)
    one = clf.scores(TEXTS[0], LABELS)
    assert one == pytest.approx(many[0], abs=1e-6)
    single = clf.scores(TEXTS, LABELS, multi_label=False)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-6) for row in single)


def test_classify_sorted_thresholded_and_top_k(clf) -> None:
    scores = clf.scores(TEXTS, LABELS)
    results = clf.classify(TEXTS, LABELS, threshold=0.5)
    for row_scores, result in zip(scores, results):
        kept = sorted((s for s in row_scores if s >= 0.5), reverse=True)
        assert [r["score"] for r in result] == pytest.approx(kept)
        assert all(set(r) == {"label", "score"} for r in result)
    top2 = clf.classify(TEXTS, LABELS, threshold=0.0, top_k=2)
    assert all(len(r) == 2 and r[0]["score"] >= r[1]["score"] for r in top2)
    best = clf.classify(TEXTS[0], LABELS, multi_label=False)
    softmax = clf.scores(TEXTS[0], LABELS, multi_label=False)
    assert len(best) == 1 and best[0]["label"] == LABELS[int(np.argmax(softmax))]
    assert len(clf.classify(TEXTS[0], LABELS, multi_label=False, top_k=3)) == 3


def test_per_text_and_per_label_thresholds(clf) -> None:
    scores = clf.scores(TEXTS[:3], LABELS)
    per_text = clf.classify(TEXTS[:3], LABELS, threshold=[0.0, 1.0, 0.5])
    assert len(per_text[0]) == len(LABELS) and per_text[1] == []
    cut = {label: (0.0 if label == "science" else 1.0) for label in LABELS}
    per_label = clf.classify(TEXTS[:3], LABELS, threshold=cut)
    assert all([r["label"] for r in row] == ["science"] for row in per_label)
    assert per_label[0][0]["score"] == pytest.approx(scores[0][2])


@pytest.mark.parametrize("number", [np.float32, np.float16, np.float64, np.int64])
def test_numpy_numbers_are_thresholds(clf, number) -> None:
    """A threshold read from a numpy array (np.float32(0.7) was a TypeError) is the same as the float."""
    scores = clf.scores(TEXTS[:3], LABELS)
    value = float(np.median(scores)) if number is not np.int64 else 0
    expected = clf.classify(TEXTS[:3], LABELS, threshold=float(number(value)))
    assert clf.classify(TEXTS[:3], LABELS, threshold=number(value)) == expected
    per_label = {label: number(value) for label in LABELS}
    assert clf.classify(TEXTS[:3], LABELS, threshold=per_label) == expected
    assert clf.classify(TEXTS[:3], LABELS, threshold=[number(value)] * 3) == expected


@pytest.mark.parametrize(
    ("threshold", "error", "match"),
    [
        (np.float32("nan"), ValueError, r"^threshold=nan is outside \[0, 1\]$"),
        ({"science": np.float32(1.5)}, ValueError, r"^threshold\['science'\]=1.5 is outside \[0, 1\]$"),
        (np.float64("inf"), ValueError, "outside"),
        (True, TypeError, "got bool"),
        ({"science": np.bool_(True)}, TypeError, "got bool"),
        ("0.5", TypeError, "got str"),
        ({"science": {"sports": 0.5}}, TypeError, r"^threshold\['science'\] must be a number in \[0, 1\], got dict$"),
        ([[0.5]], TypeError, r"^threshold\[0\] must be a number in \[0, 1\] or a dict label -> number, got list$"),
    ],
)
def test_bad_numbers_stay_threshold_errors(clf, threshold, error, match) -> None:
    with pytest.raises(error, match=match):
        clf.classify(TEXTS[:1], LABELS, threshold=threshold)


def test_per_text_labels_and_mixed_modes(clf) -> None:
    labels = [["sports"], ["science", "health care"], LABELS]
    got = clf.scores(TEXTS[:3], labels, multi_label=[True, False, True])
    assert [len(row) for row in got] == [1, 2, 5]
    assert sum(got[1]) == pytest.approx(1.0)
    for text, label_list, mode, row in zip(TEXTS[:3], labels, [True, False, True], got):
        assert clf.scores(text, label_list, multi_label=mode) == pytest.approx(row, abs=1e-6)


def test_hierarchical_labels_tree_output(clf) -> None:
    tree = {"sentiment": ["positive", "negative"], "topic": {"product": ["battery", "camera"]}}
    flat = ["sentiment.positive", "sentiment.negative", "topic.product.battery", "topic.product.camera"]
    flat_scores = clf.scores(TEXTS[0], flat)
    assert clf.scores(TEXTS[0], tree) == pytest.approx(flat_scores)
    as_tree = clf.scores([TEXTS[0]], tree, as_tree=True)[0]
    assert as_tree["sentiment"]["negative"] == pytest.approx(flat_scores[1])
    assert as_tree["topic"]["product"]["camera"] == pytest.approx(flat_scores[3])


def test_examples_shared_and_per_text(clf) -> None:
    examples = [{"text": "The striker scored twice.", "labels": ["sports"]}]
    shared = clf.scores(TEXTS[:2], LABELS, examples=examples)
    per_text = clf.scores(TEXTS[:2], LABELS, examples=[examples, None])
    assert per_text[0] == pytest.approx(shared[0], abs=1e-6)
    assert per_text[1] == pytest.approx(clf.scores(TEXTS[1], LABELS), abs=1e-6)
    assert shared[0] != pytest.approx(per_text[1], abs=1e-6)


def test_empty_text_is_scored(clf) -> None:
    row = clf.scores("", LABELS)
    assert len(row) == len(LABELS) and all(0.0 < s < 1.0 for s in row)


# ---------------------------------------------------------------- batch invariance
@pytest.mark.parametrize("name", ["uni_bert_promptfirst_avg_wdot", "uni_deberta_default", "biencoder_bert"])
def test_results_do_not_depend_on_batch(parity_classifier, name: str) -> None:
    clf = parity_classifier(name)
    reference = np.array([clf.scores(text, LABELS) for text in TEXTS])
    for batch_size in (2, 5, 12):
        assert np.abs(np.array(clf.scores(TEXTS, LABELS, batch_size=batch_size)) - reference).max() <= 1e-5
    shuffled = list(reversed(TEXTS))
    assert np.abs(np.array(clf.scores(shuffled, LABELS, batch_size=4))[::-1] - reference).max() <= 1e-5


# ---------------------------------------------------------------- long inputs
def test_chunking_scores_every_window(clf) -> None:
    long_text = " ".join(TEXTS[7] for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # chunking must not warn about truncation
        chunked = clf.predict(long_text, LABELS, max_length=64, long_text="chunk", chunk_overlap=8)[0]
    assert chunked.chunks > 1 and not chunked.truncated and chunked.text_tokens_used == chunked.text_tokens
    mean = clf.predict(long_text, LABELS, max_length=64, long_text="chunk", chunk_overlap=8, aggregate="mean")[0]
    assert np.all(np.array(chunked.logits) >= np.array(mean.logits) - 1e-6)
    with pytest.warns(UserWarning, match="truncated"):
        first_window = clf.predict(long_text, LABELS, max_length=64)[0]
    # max over windows is at least the first window's logit for every label
    assert np.all(np.array(chunked.logits) >= np.array(first_window.logits) - 1e-6)


def test_window_is_capped_by_backbone_positions(tmp_path) -> None:
    """The official default max_length=1024 crashes 512-position backbones; uniclass caps the window."""
    import shutil

    from uniclass import Classifier

    folder = tmp_path / "ckpt"
    shutil.copytree(PARITY / "uni_bert_default", folder)
    config = json.loads((folder / "config.json").read_text())
    config["encoder_config"]["max_position_embeddings"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    # a 64-row position table no longer matches the stored 1024-row weights: keep only the first rows
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    key = "model.encoder_model.embeddings.position_embeddings.weight"
    weights[key] = weights[key][:64].clone()
    save_file(weights, folder / "model.safetensors")
    clf = Classifier.from_pretrained(folder)
    assert clf.max_length == 64
    with pytest.warns(UserWarning, match="truncated"):
        prediction = clf.predict(" ".join([TEXTS[7]] * 4), LABELS)[0]
    assert prediction.truncated and len(prediction.scores) == len(LABELS)


def test_too_many_labels_split_or_refused(parity_classifier) -> None:
    clf = parity_classifier("uni_bert_default")
    many = [f"topic number {i}" for i in range(150)]
    with pytest.warns(UserWarning, match="separate groups"):
        prediction = clf.predict(TEXTS[0], many, max_length=256)[0]
    assert prediction.label_groups > 1 and len(prediction.scores) == 150
    with pytest.raises(ValueError, match="split_labels"):
        clf.predict(TEXTS[0], many, max_length=256, split_labels=False)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("texts", "labels", "kwargs", "error", "match"),
    [
        (["a"], [], {}, ValueError, "empty"),
        (["a"], ["x", "x"], {}, ValueError, "twice"),
        (["a"], ["x", 3], {}, TypeError, "must be a str"),
        (["a"], ["x", ""], {}, ValueError, "empty label"),
        (["a"], ["x<<LABEL>>y"], {}, ValueError, "reserved marker"),
        (["a"], ["x", "<<SEP>>"], {}, ValueError, "reserved marker"),
        (["a <<EXAMPLE>> b"], ["x"], {}, ValueError, "reserved marker"),
        (["a"], "x", {}, TypeError, "single str"),
        ([1], ["x"], {}, TypeError, "texts\\[0\\]"),
        (["a", "b"], [["x"]], {}, ValueError, "per-text"),
        (["a", "b"], ["x"], {"prompt": ["p"]}, ValueError, "prompt has 1"),
        (["a"], ["x"], {"threshold": 1.5}, ValueError, "outside"),
        (["a", "b"], ["x"], {"threshold": [0.5]}, ValueError, "threshold has 1"),
        (["a"], ["x"], {"top_k": 0}, ValueError, "top_k"),
        (["a"], ["x"], {"batch_size": 0}, ValueError, "batch_size"),
        (["a"], ["x"], {"examples": ["not a dict"]}, TypeError, "examples"),
        (["a"], ["x"], {"max_length": 4}, ValueError, "max_length"),
        (["a"], ["x"], {"long_text": "drop"}, ValueError, "long_text"),
    ],
)
def test_bad_input_gives_clear_errors(clf, texts, labels, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        clf.classify(texts, labels, **kwargs)


@pytest.mark.parametrize("method", ["classify", "predict", "scores", "explain"])
def test_multi_label_none_is_a_type_error(clf, method) -> None:
    """``multi_label=None`` meant True silently; it is refused like any other non-bool."""
    message = r"^multi_label must be a bool or a list of them \(one per text\), got NoneType$"
    with pytest.raises(TypeError, match=message):
        getattr(clf, method)(TEXTS[:1], LABELS, multi_label=None)


def test_huge_text_is_handled(clf) -> None:
    huge = "word " * 200_000
    with pytest.warns(UserWarning, match="truncated"):
        prediction = clf.predict(huge, LABELS)[0]
    assert prediction.truncated and prediction.text_tokens >= 200_000


# ---------------------------------------------------------------- save / load
@pytest.mark.parametrize("name", ["uni_bert_promptfirst_avg_wdot", "uni_deberta_default", "biencoder_bert"])
def test_save_load_round_trip(parity_classifier, tmp_path, name: str) -> None:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / name)  # fresh: no label vectors cached from other calls
    clf.save_pretrained(tmp_path / "saved")
    again = Classifier.from_pretrained(tmp_path / "saved")
    before = np.array(clf.scores(TEXTS, LABELS))
    after = np.array(again.scores(TEXTS, LABELS))
    assert np.array_equal(before, after)
    original = json.loads((PARITY / name / "config.json").read_text())
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    for key, value in original.items():  # every official key survives, unknown ones included
        if key not in ("transformers_version", "encoder_config", "label_model_config"):
            assert saved[key] == value, key


def test_missing_checkpoint_and_weights_errors(tmp_path) -> None:
    import shutil

    from uniclass import Classifier

    with pytest.raises(FileNotFoundError):
        Classifier.from_pretrained(tmp_path / "does-not-exist")
    folder = tmp_path / "bad"
    shutil.copytree(PARITY / "uni_bert_default", folder)
    config = json.loads((folder / "config.json").read_text())
    config["scorer_type"] = "mlp"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="missing"):
        Classifier.from_pretrained(folder)
    config["scorer_type"] = "nonsense"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="scorer_type"):
        Classifier.from_pretrained(folder)


def test_hub_ids_go_through_huggingface_hub(monkeypatch) -> None:
    """A hub id is resolved with huggingface_hub.snapshot_download (mocked here: tests never go online)."""
    import huggingface_hub

    from uniclass import Classifier

    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(PARITY / "uni_bert_default")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    clf = Classifier.from_pretrained("knowledgator/gliclass-small-v1.0", revision="main", local_files_only=True)
    assert calls == [("knowledgator/gliclass-small-v1.0", {"revision": "main", "token": None, "cache_dir": None, "local_files_only": True})]
    assert len(clf.scores("ok", ["a", "b"])) == 2


def test_reset_caches_forgets_the_label_vectors() -> None:
    """The public way (used by the trainers) to drop what belongs to the old weights."""
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "biencoder_bert", device="cpu")
    clf.scores("The striker scored", ["sports", "finance"])
    assert set(clf.engine.label_cache) == {"sports", "finance"}
    clf.reset_caches()
    assert not clf.engine.label_cache
