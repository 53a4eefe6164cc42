"""Label prototypes of the embedding-similarity prior: the vectors, save/load, ``fit`` setting them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from uniclass import Classifier
from uniclass.backends.embedding import (
    PROTOTYPE_LABELS_FILE,
    PROTOTYPES_FILE,
    EmbeddingPrior,
    PriorError,
    PriorSpec,
    load_prototypes,
    prototype,
    save_prototypes,
)

from ..conftest import PARITY, topic_items

TEXTS = ["the team won the final", "shares fell after the earnings call", "a quiet afternoon"]
LABELS = ["sports", "finance", "weather"]


@pytest.fixture(scope="module")
def spec(tiny_backbone) -> PriorSpec:
    """A prior whose embedding model is the tiny random BERT (weight 10, the default template)."""
    return PriorSpec.from_dict({"kind": "embedding-similarity", "weight": 10.0, "max_length": 64,
                                "backbone": {"folder": str(tiny_backbone)}})


@pytest.fixture
def classifier(spec) -> Classifier:
    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    clf.prior = EmbeddingPrior.load(spec)
    return clf


def test_prototype_is_the_normalised_weighted_mean() -> None:
    prompt = np.array([1.0, 0.0, 0.0], np.float32)
    examples = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    expected = np.array([2.0, 1.0, 1.0]) / np.sqrt(6.0)
    np.testing.assert_allclose(prototype(prompt, examples, prompt_weight=2.0), expected, rtol=1e-6)
    np.testing.assert_allclose(prototype(prompt, examples, prompt_weight=0.0), [0, 2 ** -0.5, 2 ** -0.5], rtol=1e-6)
    np.testing.assert_allclose(prototype(prompt, examples[:0]), prompt)  # no examples: the prompt vector
    with pytest.raises(ValueError):
        prototype(prompt, examples[:0], prompt_weight=0.0)
    with pytest.raises(ValueError):
        prototype(prompt, examples, prompt_weight=-1.0)


def test_labels_without_prototypes_keep_the_prompt_vector(classifier) -> None:
    prior = classifier.prior
    before = prior.label_vectors(LABELS)
    new = prior.set_prototypes({"sports": TEXTS[:1], "finance": TEXTS[1:2], "weather": []})
    assert set(new) == {"sports", "finance"}  # no texts, no prototype
    after = prior.label_vectors(LABELS)
    np.testing.assert_array_equal(after[2], before[2])
    for j, label in enumerate(LABELS[:2]):
        example = prior.embedder.embed(TEXTS[j : j + 1])[0]
        np.testing.assert_allclose(after[j], prototype(before[j], example[None]), atol=1e-6)
        assert not np.allclose(after[j], before[j])
    cos = np.array(prior.logits(TEXTS[:1], [LABELS])[0]) / prior.spec.weight
    expected = prior.embedder.embed(TEXTS[:1])[0] @ after.T
    np.testing.assert_allclose(cos, expected - expected.mean() if prior.spec.center else expected, atol=1e-5)
    prior.reset()  # clears the prompt cache only
    assert set(prior.prototypes) == {"sports", "finance"}
    prior.clear_prototypes()
    np.testing.assert_allclose(prior.label_vectors(LABELS), before, atol=1e-6)


def test_prototypes_files_round_trip_and_are_checked(tmp_path: Path) -> None:
    vectors = {"b": np.arange(4, dtype=np.float32), "a": -np.arange(4, dtype=np.float32)}
    save_prototypes(vectors, tmp_path)
    assert json.loads((tmp_path / PROTOTYPE_LABELS_FILE).read_text()) == ["b", "a"]
    loaded = load_prototypes(tmp_path)
    assert list(loaded) == ["b", "a"]
    for label in vectors:
        np.testing.assert_array_equal(loaded[label], vectors[label])
    assert load_prototypes(tmp_path / "missing") == {}
    (tmp_path / PROTOTYPE_LABELS_FILE).write_text('["b"]')
    with pytest.raises(PriorError):
        load_prototypes(tmp_path)
    (tmp_path / PROTOTYPE_LABELS_FILE).unlink()
    with pytest.raises(PriorError):
        load_prototypes(tmp_path)


def test_save_pretrained_keeps_the_prototypes(classifier, tmp_path: Path) -> None:
    classifier.prior.set_prototypes({"sports": TEXTS[:1]})
    expected = classifier.scores(TEXTS, LABELS, multi_label=False)
    classifier.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / PROTOTYPES_FILE).is_file()
    again = Classifier.from_pretrained(tmp_path / "ckpt", device="cpu")
    assert list(again.prior.prototypes) == ["sports"]
    np.testing.assert_allclose(again.scores(TEXTS, LABELS, multi_label=False), expected, atol=1e-5)
    without = Classifier.from_pretrained(tmp_path / "ckpt", device="cpu", prior=False)
    assert without.prior is None
    again.prior.clear_prototypes()  # saving over the folder drops the stale prototype files
    again.save_pretrained(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / PROTOTYPES_FILE).exists()
    assert Classifier.from_pretrained(tmp_path / "ckpt", device="cpu").prior.prototypes == {}


def test_fit_sets_prototypes_without_finetuning(classifier) -> None:
    items = topic_items(8, seed=1)
    weights = {n: p.detach().clone() for n, p in classifier.model.named_parameters()}
    classifier.fit([i["text"] for i in items], [i["true_labels"][0] for i in items], all_labels=["sports", "finance", "art"],
                   finetune=False, prototype_prompt_weight=2.0)
    assert set(classifier.prior.prototypes) == {"sports", "finance"}  # "art" has no example
    assert all(torch.equal(p, weights[n]) for n, p in classifier.model.named_parameters())
    sports = [i["text"] for i in items if i["true_labels"] == ["sports"]]
    prompt = classifier.prior.prompt_vectors(["sports"])[0]
    np.testing.assert_allclose(classifier.prior.prototypes["sports"],
                               prototype(prompt, classifier.prior.embedder.embed(sports), 2.0), atol=1e-6)


def test_fit_multi_label_texts_count_for_each_label(classifier) -> None:
    classifier.fit(["goal and shares", "goal"], [["sports", "finance"], "sports"], finetune=False)
    embed, prompts = classifier.prior.embedder.embed, classifier.prior.prompt_vectors(["sports", "finance"])
    np.testing.assert_allclose(classifier.prior.prototypes["finance"], prototype(prompts[1], embed(["goal and shares"])),
                               atol=1e-6)
    np.testing.assert_allclose(classifier.prior.prototypes["sports"],
                               prototype(prompts[0], embed(["goal and shares", "goal"])), atol=1e-6)


def test_fit_finetunes_and_sets_prototypes(classifier) -> None:
    items = topic_items(4, seed=2)
    weights = {n: p.detach().clone() for n, p in classifier.model.named_parameters()}
    classifier.fit([i["text"] for i in items], [i["true_labels"][0] for i in items], finetune=True, lora=False,
                   max_steps=1, learning_rate=1e-3)
    assert set(classifier.prior.prototypes) == {"sports", "finance"}
    assert any(not torch.equal(p, weights[n]) for n, p in classifier.model.named_parameters())
    assert not classifier.model.training


def test_fit_without_a_prior(classifier) -> None:
    classifier.prior = None
    with pytest.raises(ValueError, match="nothing to train"):
        classifier.fit(["a goal"], ["sports"], finetune=False)
    classifier.fit(["a goal", "shares"], ["sports", "finance"], lora=False, max_steps=1)  # default: fine-tunes


def test_fit_default_follows_the_measured_choice(classifier) -> None:
    """With a prior, ``finetune=None`` fine-tunes only if the few-shot protocol chose to (``FINETUNE_WITH_PROTOTYPES``)."""
    from uniclass.training import fit as fit_module

    weights = {n: p.detach().clone() for n, p in classifier.model.named_parameters()}
    classifier.fit(["a goal", "shares"], ["sports", "finance"], lora=False, max_steps=1, learning_rate=1e-2)
    unchanged = all(torch.equal(p, weights[n]) for n, p in classifier.model.named_parameters())
    assert unchanged != fit_module.FINETUNE_WITH_PROTOTYPES
    assert set(classifier.prior.prototypes) == {"sports", "finance"}
    assert fit_module.default_finetune(classifier, prototypes=False)


def test_onnx_export_carries_the_prototypes(classifier, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    classifier.prior.set_prototypes({"sports": TEXTS[:1], "finance": TEXTS[1:2]})
    classifier.save_pretrained(tmp_path / "ckpt")
    out = export_onnx(tmp_path / "ckpt", tmp_path / "onnx")
    assert (out / PROTOTYPES_FILE).is_file()
    onnx_clf = Classifier.from_pretrained(out, backend="onnx")
    assert set(onnx_clf.prior.prototypes) == {"sports", "finance"}
    np.testing.assert_allclose(onnx_clf.scores(TEXTS, LABELS), classifier.scores(TEXTS, LABELS), atol=1e-5)
