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


def test_cli_without_model_flag(capsys) -> None:
    from uniclass.cli import main

    assert main(["classify", "I loved the battery life", "--labels", "positive,negative", "--single-label"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["labels"][0]["label"] == "positive"
