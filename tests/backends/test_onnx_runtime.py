"""The ONNX-backed Classifier: same API as torch, cached bi-encoder labels, threads, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.conftest import PARITY
from tests.backends.onnx_helpers import exported_fixture, ref  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def uni(exported):
    from uniclass import Classifier

    clf, folder = exported("fixture-uni-bert", lambda: Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu"))
    return clf, folder, Classifier.from_pretrained(folder, backend="onnx", num_threads=1)


@pytest.fixture(scope="module")
def bi(exported):
    from uniclass import Classifier

    clf, folder = exported("fixture-biencoder", lambda: Classifier.from_pretrained(PARITY / "biencoder_bert", device="cpu"))
    return clf, folder


class CountingBackend:
    """Wraps a backend and records every label-encoder and model call."""

    def __init__(self, backend):
        self.inner = backend
        self.name, self.config, self.device = backend.name, backend.config, backend.device
        self.encoded: list[int] = []
        self.batches: list[tuple[int, int]] = []

    def run(self, batch):
        self.batches.append(batch["input_ids"].shape)
        return self.inner.run(batch)

    def encode_labels(self, input_ids, attention_mask):
        self.encoded.append(len(input_ids))
        return self.inner.encode_labels(input_ids, attention_mask)


# ---------------------------------------------------------------- bi-encoder label cache
def test_bi_encoder_label_vectors_are_cached_across_calls(bi) -> None:
    """Many calls against a fixed label set cost one label-encoder pass; only new labels are encoded later."""
    from uniclass import Classifier

    torch_clf, folder = bi
    clf = Classifier.from_pretrained(folder, backend="onnx", num_threads=1)
    counting = CountingBackend(clf.backend)
    clf.backend = counting
    first = clf.scores(ref.TEXTS, ref.LABELS_8, batch_size=4)
    assert sum(counting.encoded) == 8
    again = clf.scores(list(reversed(ref.TEXTS)), ref.LABELS_8[:5], batch_size=2)
    assert sum(counting.encoded) == 8  # nothing new to encode
    clf.scores(ref.TEXTS[:2], [*ref.LABELS_8[:3], "a new label"])
    assert sum(counting.encoded) == 9
    assert ref.max_abs_diff(first, torch_clf.scores(ref.TEXTS, ref.LABELS_8)) <= 1e-5
    assert ref.max_abs_diff(again[::-1], [row[:5] for row in first]) <= 1e-6


def test_torch_bi_encoder_cache_still_works(parity_classifier) -> None:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "biencoder_bert", device="cpu")
    counting = CountingBackend(clf.backend)
    clf.backend = counting
    clf.scores(ref.TEXTS, ref.LABELS_8)
    clf.scores(ref.TEXTS, ref.LABELS_8[:2] + ["finance", "technology"])
    assert sum(counting.encoded) == 8 + 2  # "finance"/"technology" are new, the other two are cached
    assert all(isinstance(v, np.ndarray) for v in clf.engine.label_cache.values())


# ---------------------------------------------------------------- same API
def test_onnx_classifier_api_matches_torch(uni) -> None:
    torch_clf, _, clf = uni
    assert clf.backend.name == "onnx" and clf.device == "cpu"
    assert clf.max_length == torch_clf.max_length
    texts = ref.TEXTS[:4]
    got, want = clf.classify(texts, ref.LABELS_3, threshold=0.3), torch_clf.classify(texts, ref.LABELS_3, threshold=0.3)
    assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in want]
    assert ref.max_abs_diff([[r["score"] for r in row] for row in got], [[r["score"] for r in row] for row in want]) <= 1e-5
    tree = {"topic": ["sports", "finance"], "mood": {"tone": ["happy", "sad"]}}
    a, b = clf.scores(texts[0], tree, as_tree=True), torch_clf.scores(texts[0], tree, as_tree=True)
    assert a["mood"]["tone"]["sad"] == pytest.approx(b["mood"]["tone"]["sad"], abs=1e-5)
    long_text = " ".join([ref.LONG_TEXT] * 3)
    p, q = clf.predict(long_text, ref.LABELS_8, long_text="chunk")[0], torch_clf.predict(long_text, ref.LABELS_8, long_text="chunk")[0]
    assert p.chunks == q.chunks > 1 and np.allclose(p.scores, q.scores, atol=1e-5)
    with pytest.raises(ValueError, match="twice"):
        clf.scores("x", ["a", "a"])


def test_calibration_works_and_is_loaded_with_the_export(uni, tmp_path) -> None:
    from uniclass import Classifier
    from uniclass.exporters.onnx import export_onnx

    torch_clf, _, clf = uni
    texts, truth = ref.TEXTS, [["sports"], ["finance"], ["technology"], ["sports"], ["finance"], ["technology"]]
    report = clf.calibrate(texts, truth, ref.LABELS_3)
    assert report["temperature"] > 0 and clf.calibration is not None
    clf.calibration = None
    torch_clf.calibrate(texts, truth, ref.LABELS_3)
    try:
        out = export_onnx(torch_clf, tmp_path / "calibrated")
    finally:
        calibrated_scores = torch_clf.scores(texts, ref.LABELS_3)
        torch_clf.calibration = None
    assert (out / "calibration.json").is_file()
    loaded = Classifier.from_pretrained(out, backend="onnx")
    assert ref.max_abs_diff(loaded.scores(texts, ref.LABELS_3), calibrated_scores) <= 1e-5


def test_torch_only_methods_raise_clearly(uni, tmp_path) -> None:
    _, _, clf = uni
    for call in (lambda: clf.model, lambda: clf.save_pretrained(tmp_path / "x"), lambda: clf.enable_lora(),
                 lambda: clf.fit(["a"], ["b"]), lambda: clf.to("cpu"), lambda: clf.merge_lora()):
        with pytest.raises(NotImplementedError, match="torch backend"):
            call()
    assert not hasattr(clf, "model") and getattr(clf, "model", None) is None


# ---------------------------------------------------------------- loading errors and options
def test_loading_errors(uni, tmp_path) -> None:
    from uniclass import Classifier

    _, folder, _ = uni
    with pytest.raises(FileNotFoundError, match="uniclass export onnx"):
        Classifier.from_pretrained(PARITY / "uni_bert_default", backend="onnx")
    with pytest.raises(ValueError, match="backend must be"):
        Classifier.from_pretrained(folder, backend="tensorrt")
    with pytest.raises(ValueError, match="quantized=True"):
        Classifier.from_pretrained(PARITY / "uni_bert_default", quantized=True)
    with pytest.raises(ValueError, match="device"):
        Classifier.from_pretrained(folder, backend="onnx", device="cuda")
    with pytest.raises(ValueError, match="dtype"):
        Classifier.from_pretrained(folder, backend="onnx", dtype="float16")
    with pytest.raises(ValueError, match="compile"):
        Classifier.from_pretrained(folder, backend="onnx", compile=True)
    with pytest.raises(ValueError, match="num_threads"):
        Classifier.from_pretrained(folder, backend="onnx", num_threads=0)
    with pytest.raises(ValueError, match="needs the folder"):
        Classifier.from_pretrained(None, backend="onnx")
    with pytest.raises(FileNotFoundError, match="backend='onnx'"):
        Classifier.from_pretrained(folder)  # an export folder has no torch weights


def test_num_threads_reaches_the_session(uni) -> None:
    from uniclass import Classifier

    _, folder, _ = uni
    clf = Classifier.from_pretrained(folder, backend="onnx", num_threads=2)
    assert clf.backend.session.get_session_options().intra_op_num_threads == 2


def test_default_backend_without_torch_is_a_clear_error(monkeypatch) -> None:
    import importlib.util

    from uniclass import classifier

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ImportError, match=r"uniclass\[torch\].*backend='onnx'"):
        classifier.Classifier.from_pretrained(PARITY / "uni_bert_default")


def test_plain_backbone_config_reads_what_inference_needs() -> None:
    from uniclass.config import BackboneConfig, GLiClassConfig, max_positions

    config = GLiClassConfig.from_json_file(PARITY / "uni_bert_default" / "config.json", plain_backbones=True)
    full = GLiClassConfig.from_json_file(PARITY / "uni_bert_default" / "config.json")
    assert isinstance(config.encoder_config, BackboneConfig)
    assert (config.encoder_hidden_size, config.pad_token_id, config.class_token_index) == (
        full.encoder_hidden_size, full.pad_token_id, full.class_token_index)
    assert max_positions(config.encoder_config) == max_positions(full.encoder_config) == 1024
    t5 = BackboneConfig({"model_type": "t5", "d_model": 64, "vocab_size": 100})
    assert t5.hidden_size == 64 and max_positions(t5) is None
    with pytest.raises(AttributeError, match="no field 'nonsense'"):
        _ = t5.nonsense
    saved = json.loads(json.dumps(config.to_dict()))
    assert saved["encoder_config"]["hidden_size"] == full.encoder_hidden_size


# ---------------------------------------------------------------- explanations
def test_explain_on_onnx_equals_torch(uni) -> None:
    """Occlusion needs only scores: the ONNX classifier explains like the torch one, in one batched call."""
    clf, _, onnx = uni
    text = "The striker scored twice. Shares fell 5% after the call! Dr. Smith said so."
    counting = CountingBackend(onnx.backend)
    onnx.engine.backend = counting
    try:
        got = onnx.explain(text, ["sports", "finance"], unit="sentence")
    finally:
        onnx.engine.backend = counting.inner
    want = clf.explain(text, ["sports", "finance"], unit="sentence")
    assert [u.text for u in got.units] == [u.text for u in want.units] and len(got.units) == 3
    for g, w in zip(got.deltas, want.deltas, strict=True):
        assert g == pytest.approx(w, abs=1e-4)
    assert len(counting.batches) == 1 and counting.batches[0][0] == 4  # the text and its 3 variants together


def test_label_order_on_onnx(uni) -> None:
    """'stable' falls back to seeded permutations (same scores as torch's permutations); 'positions' raise."""
    torch_clf, _, clf = uni
    texts = ref.TEXTS[:2]
    got = clf.scores(texts, ref.LABELS_3, label_order="stable", permutations=2)
    want = torch_clf.scores(texts, ref.LABELS_3, label_order="permutations", permutations=2)
    assert ref.max_abs_diff(got, want) <= 1e-5
    assert ref.max_abs_diff(clf.scores(texts, ref.LABELS_3[::-1], label_order="stable", permutations=2),
                            [row[::-1] for row in got]) <= 1e-6
    with pytest.raises(ValueError, match="torch backend"):
        clf.scores(texts, ref.LABELS_3, label_order="positions")
    from uniclass.processing import WindowPolicy, normalize_request

    plans = torch_clf.engine.plan(normalize_request(texts, ref.LABELS_3), WindowPolicy(64))
    batch = torch_clf.engine.collate(plans[0].segments, position_offset=0)
    with pytest.raises(ValueError, match="no position_ids input"):
        clf.backend.run(batch)
