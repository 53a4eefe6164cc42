"""``text_prefix`` and ``label_template``: a bi-encoder reading its backbone's input convention (e5's "query: ")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from uniclass import Classifier
from uniclass.config import GLiClassConfig

BI_OPTIONS = dict(pooling_strategy="avg", normalize_features=True, scorer_type="simple", hidden_size=64,
                  projector_hidden_act="gelu")
TEXTS = ["the team won the final", "shares fell as the bank raised rates"]
LABELS = ["sports", "finance", "weather report"]
PREFIX, TEMPLATE = "query: ", "query: This text is about {}."


@pytest.fixture
def folders(tiny_backbone, tmp_path):
    """One tiny bi-encoder saved twice: as built, and with the input convention (and the e5 term) set."""
    torch.manual_seed(2)
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", **BI_OPTIONS)
    plain, convention = tmp_path / "plain", tmp_path / "convention"
    clf.save_pretrained(plain)
    clf.save_pretrained(convention)
    config = json.loads((convention / "config.json").read_text())
    config.update(text_prefix=PREFIX, label_template=TEMPLATE, backbone_similarity_weight=2.0)
    (convention / "config.json").write_text(json.dumps(config))
    return plain, convention


def logits(clf: Classifier, texts=TEXTS, labels=LABELS, **kwargs) -> np.ndarray:
    return np.stack([np.asarray(r.logits) for r in clf.predict(texts, labels, multi_label=False, **kwargs)])


def test_the_pass_reads_the_prefixed_text_and_the_templated_labels(folders, one_torch_thread) -> None:
    """With the convention, the model scores exactly what the plain model scores on the rewritten strings."""
    plain, convention = folders
    with_convention = Classifier.from_pretrained(convention, device="cpu")
    plain_clf = Classifier.from_pretrained(plain, device="cpu")
    plain_clf.config.backbone_similarity_weight = 2.0  # same term, no convention
    rewritten = logits(plain_clf, [PREFIX + t for t in TEXTS], [TEMPLATE.format(x) for x in LABELS])
    np.testing.assert_allclose(logits(with_convention), rewritten, atol=1e-5)
    assert np.abs(logits(with_convention) - logits(plain_clf)).max() > 1e-3  # and it does change the scores


def test_a_user_prompt_follows_the_prefix(folders, one_torch_thread) -> None:
    plain, convention = folders
    with_convention = Classifier.from_pretrained(convention, device="cpu")
    plain_clf = Classifier.from_pretrained(plain, device="cpu")
    plain_clf.config.backbone_similarity_weight = 2.0
    prompt = "Classify the topic:"
    rewritten = logits(plain_clf, [f"{PREFIX}{prompt} {t}" for t in TEXTS], [TEMPLATE.format(x) for x in LABELS])
    np.testing.assert_allclose(logits(with_convention, prompt=prompt), rewritten, atol=1e-5)


def test_the_convention_round_trips_and_defaults_are_not_written(folders, tmp_path, one_torch_thread) -> None:
    plain, convention = folders
    assert not {"text_prefix", "label_template"} & set(json.loads((plain / "config.json").read_text()))
    again = Classifier.from_pretrained(convention, device="cpu").save_pretrained(tmp_path / "again")
    config = json.loads((again / "config.json").read_text())
    assert (config["text_prefix"], config["label_template"]) == (PREFIX, TEMPLATE)


def test_training_reads_the_same_inputs(folders, one_torch_thread) -> None:
    """The collator tokenises templated labels and prefixed texts, so fine-tuning sees what inference sees."""
    from uniclass.training.collator import Collator

    _, convention = folders
    clf = Classifier.from_pretrained(convention, device="cpu")
    batch = Collator(clf.config, clf.tokenizer, clf.label_tokenizer)(
        [{"text": TEXTS[0], "labels": LABELS, "targets": [1.0, 0.0, 0.0]}]
    )
    decode = clf.label_tokenizer.decode
    labels = sorted(decode(ids, skip_special_tokens=True) for ids in batch["label_input_ids"])
    expected = clf.label_tokenizer([TEMPLATE.format(x) for x in LABELS])["input_ids"]
    assert labels == sorted(decode(ids, skip_special_tokens=True) for ids in expected)
    assert all("about" in label for label in labels)
    text = clf.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    assert text == clf.tokenizer.decode(clf.tokenizer(PREFIX + TEXTS[0])["input_ids"], skip_special_tokens=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(label_template="no slot"), "label_template must be a string with one {}"),
        (dict(label_template="{} and {}"), "label_template must be a string with one {}"),
        (dict(text_prefix=3), "text_prefix must be a string"),
    ],
)
def test_bad_convention_is_one_clear_line(options, message) -> None:
    with pytest.raises(ValueError, match=message.replace("{", "\\{").replace("}", "\\}")) as info:
        GLiClassConfig(architecture_type="bi-encoder", **options)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("architecture", ["uni-encoder", "bi-encoder-fused", "encoder-decoder"])
def test_convention_needs_a_plain_bi_encoder(architecture) -> None:
    with pytest.raises(ValueError, match="need architecture_type 'bi-encoder'"):
        GLiClassConfig(architecture_type=architecture, text_prefix="query: ")


def test_onnx_export_keeps_the_convention(folders, tmp_path, one_torch_thread) -> None:
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    _, convention = folders
    out = export_onnx(convention, tmp_path / "onnx")  # runs its own parity check against torch
    onnx_clf = Classifier.from_pretrained(out, backend="onnx", num_threads=1)
    np.testing.assert_allclose(logits(onnx_clf), logits(Classifier.from_pretrained(convention, device="cpu")),
                               atol=1e-5)


def test_shortlisting_retrieves_with_the_models_own_encoder_in_its_convention(folders, one_torch_thread) -> None:
    """A bi-encoder with a text_prefix shortlists with its own backbone by default, reading the same strings."""
    _, convention = folders
    clf = Classifier.from_pretrained(convention, device="cpu")
    retriever = clf._retriever(clf._default_retriever())
    assert retriever.name.startswith("model:") and ":" in retriever.name[len("model:") :]
    backbone = clf.model.model.encoder_model
    tokenizer = clf.tokenizer

    def pooled(strings):
        enc = tokenizer(strings, padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            hidden = backbone(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])[0]
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()

    atol = 1e-5 if retriever.precision == "fp32" else 3e-2  # bf16 where the CPU runs it natively
    np.testing.assert_allclose(retriever.encode_texts(TEXTS), pooled([PREFIX + t for t in TEXTS]), atol=atol)
    np.testing.assert_allclose(retriever.encode_labels(LABELS), pooled([TEMPLATE.format(x) for x in LABELS]), atol=atol)
    ranked = clf.classify(TEXTS, LABELS, shortlist=2)  # runs end to end with the default retriever
    assert all(len(answer) <= 2 for answer in ranked)
