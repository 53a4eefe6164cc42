"""``backbone_similarity_weight``: a bi-encoder's logits plus w times the cosine of its backbones' pooled vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from uniclass import Classifier
from uniclass.config import GLiClassConfig

BI_OPTIONS = dict(pooling_strategy="avg", normalize_features=True, scorer_type="simple", hidden_size=64,
                  projector_hidden_act="gelu")
TEXTS = ["the team won the final", "shares fell as the bank raised rates", "a quiet day"]
LABELS = ["sports", "finance", "weather report"]
WEIGHT = 3.5


@pytest.fixture
def folders(tiny_backbone, tmp_path):
    """The same tiny bi-encoder saved twice: as built (w = 0) and with ``backbone_similarity_weight`` set."""
    torch.manual_seed(1)
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", **BI_OPTIONS)
    with torch.no_grad():  # move the head away from its initialisation, so head and backbone cosine differ
        for p in clf.model.model.text_projector.parameters():
            p.add_(0.1 * torch.randn_like(p))
    plain, weighted = tmp_path / "plain", tmp_path / "weighted"
    clf.save_pretrained(plain)
    clf.save_pretrained(weighted)
    config = json.loads((weighted / "config.json").read_text())
    (weighted / "config.json").write_text(json.dumps({**config, "backbone_similarity_weight": WEIGHT}))
    return plain, weighted


def backbone_cosines(folder, texts, labels) -> np.ndarray:
    """``[T, K]`` cosines of mean-pooled states of the plain backbone, computed outside uniclass."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    def pooled(strings):
        enc = tokenizer(strings, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc)[0]
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    return (pooled(texts) @ pooled(labels).T).numpy()


def logits(clf: Classifier) -> np.ndarray:
    return np.stack([np.asarray(r.logits) for r in clf.predict(TEXTS, LABELS, multi_label=False)])


def test_logits_are_head_plus_weight_times_backbone_cosine(folders, tiny_backbone, one_torch_thread) -> None:
    plain, weighted = folders
    head = logits(Classifier.from_pretrained(plain, device="cpu"))
    both = logits(Classifier.from_pretrained(weighted, device="cpu"))
    cosine = backbone_cosines(tiny_backbone, TEXTS, LABELS)
    assert np.abs(both - head).max() > 0.1  # the term moves the logits...
    np.testing.assert_allclose(both, head + WEIGHT * cosine, atol=1e-4)  # ...by exactly w * cosine


def test_weight_round_trips_and_the_default_is_not_written(folders, tmp_path, one_torch_thread) -> None:
    plain, weighted = folders
    assert "backbone_similarity_weight" not in json.loads((plain / "config.json").read_text())
    again = Classifier.from_pretrained(weighted, device="cpu").save_pretrained(tmp_path / "again")
    assert json.loads((again / "config.json").read_text())["backbone_similarity_weight"] == WEIGHT


def test_training_forward_with_label_ids_matches_cached_label_vectors(folders, one_torch_thread) -> None:
    _, weighted = folders
    clf = Classifier.from_pretrained(weighted, device="cpu")
    inner = clf.model.model.eval()
    tok = clf.label_tokenizer
    labels = tok(LABELS, padding=True, return_tensors="pt")
    text = clf.tokenizer(TEXTS[:1], return_tensors="pt")
    with torch.no_grad():
        from_ids = inner(text["input_ids"], text["attention_mask"], slot_counts=torch.tensor([3]),
                         label_input_ids=labels["input_ids"], label_attention_mask=labels["attention_mask"],
                         label_index=torch.tensor([[0, 1, 2]]))
        cached = inner.encode_labels(labels["input_ids"], labels["attention_mask"])
        from_vectors, projected = inner(text["input_ids"], text["attention_mask"], slot_counts=torch.tensor([3]),
                                        label_vectors=cached[None], return_label_vectors=True)
    torch.testing.assert_close(from_ids, from_vectors)
    assert projected.shape[-1] == cached.shape[-1] - inner.label_encoder.config.hidden_size


@pytest.mark.parametrize("weight", [-1.0, float("inf"), float("nan"), "3", True])
def test_bad_weight_is_one_clear_line(weight) -> None:
    with pytest.raises(ValueError, match="backbone_similarity_weight must be a finite number >= 0") as info:
        GLiClassConfig(architecture_type="bi-encoder", backbone_similarity_weight=weight)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("architecture", ["uni-encoder", "bi-encoder-fused", "encoder-decoder"])
def test_weight_needs_a_plain_bi_encoder(architecture) -> None:
    with pytest.raises(ValueError, match="backbone_similarity_weight needs architecture_type 'bi-encoder'"):
        GLiClassConfig(architecture_type=architecture, backbone_similarity_weight=1.0)


def test_weight_needs_one_hidden_size_for_both_encoders() -> None:
    from transformers import BertConfig

    def bert(width: int) -> BertConfig:
        return BertConfig(hidden_size=width, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)

    with pytest.raises(ValueError, match="one hidden size \\(here 32 and 24\\)"):
        GLiClassConfig(architecture_type="bi-encoder", encoder_config=bert(32), label_model_config=bert(24),
                       backbone_similarity_weight=1.0)


def test_onnx_export_carries_the_term(folders, tmp_path, one_torch_thread) -> None:
    """The exported label graph returns both vectors and the logits graph adds the term: onnxruntime = torch."""
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    _, weighted = folders
    out = export_onnx(weighted, tmp_path / "onnx")  # runs its own parity check against torch
    onnx_clf = Classifier.from_pretrained(out, backend="onnx", num_threads=1)
    np.testing.assert_allclose(logits(onnx_clf), logits(Classifier.from_pretrained(weighted, device="cpu")),
                               atol=1e-5)
