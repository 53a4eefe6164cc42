"""``uniclass.pipeline``: the transformers zero-shot-classification call, answered by a GLiClass model.

The calls are the ones in the docstring of transformers' ``ZeroShotClassificationPipeline`` (and its
``__call__`` arguments); the answers are checked for what those examples promise (every candidate, sorted, single-
label scores summing to 1) and, structurally, against the real transformers pipeline on a tiny random NLI model.
"""

from __future__ import annotations

import math
import warnings

import pytest

import uniclass
from tests.conftest import PARITY

IPHONE = "I have a problem with my iphone that needs to be resolved asap!!"
URGENCY = ["urgent", "not urgent", "phone", "tablet", "computer"]


@pytest.fixture(scope="module")
def oracle(one_torch_thread_module):
    return uniclass.pipeline("zero-shot-classification", model=PARITY / "uni_bert_default", device=-1)


@pytest.fixture(scope="module")
def one_torch_thread_module():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hf_oracle(tmp_path_factory):
    """transformers' own pipeline on a tiny random NLI model (entailment id 2, as MNLI heads have)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    from transformers import pipeline as hf_pipeline

    folder = tmp_path_factory.mktemp("tiny-nli")
    tokenizer = AutoTokenizer.from_pretrained(PARITY / "uni_bert_default")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, num_labels=3,
                        id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                        label2id={"contradiction": 0, "neutral": 1, "entailment": 2})
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return hf_pipeline("zero-shot-classification", model=str(folder), device=-1)


def check_answer(out: dict, sequence: str, labels: list[str], *, sums_to_one: bool) -> None:
    assert set(out) == {"sequence", "labels", "scores"}
    assert out["sequence"] == sequence
    assert sorted(out["labels"]) == sorted(labels)  # every candidate, once
    assert out["scores"] == sorted(out["scores"], reverse=True)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in out["scores"])
    if sums_to_one:
        assert math.isclose(sum(out["scores"]), 1.0, abs_tol=1e-6)


# ---------------------------------------------------------------- the transformers docstring examples
def test_docstring_example_five_labels(oracle):
    out = oracle(IPHONE, candidate_labels=URGENCY)
    check_answer(out, IPHONE, URGENCY, sums_to_one=True)


def test_docstring_example_two_labels(oracle):
    out = oracle(IPHONE, candidate_labels=["english", "german"])
    check_answer(out, IPHONE, ["english", "german"], sums_to_one=True)


def test_scores_are_the_classifiers(oracle):
    """The pipeline is a view of Classifier.scores, not another model: same numbers, sorted."""
    out = oracle(IPHONE, candidate_labels=URGENCY)
    expected = dict(zip(URGENCY, oracle.model.scores(IPHONE, URGENCY, multi_label=False), strict=True))
    assert out["scores"] == pytest.approx([expected[label] for label in out["labels"]], abs=1e-12)


def test_multi_label_gives_independent_scores(oracle):
    out = oracle(IPHONE, candidate_labels=URGENCY, multi_label=True)
    check_answer(out, IPHONE, URGENCY, sums_to_one=False)
    expected = dict(zip(URGENCY, oracle.model.scores(IPHONE, URGENCY, multi_label=True), strict=True))
    assert out["scores"] == pytest.approx([expected[label] for label in out["labels"]], abs=1e-12)


def test_one_candidate_is_scored_alone_not_softmaxed(oracle):
    """transformers: a single candidate gets its own probability (a softmax over one label would always be 1)."""
    out = oracle(IPHONE, candidate_labels=["urgent"])
    assert out["scores"] == pytest.approx(oracle.model.scores(IPHONE, ["urgent"], multi_label=True))
    assert out["scores"][0] < 1.0


def test_comma_separated_labels_and_positional_labels(oracle):
    by_string = oracle(IPHONE, "urgent, not urgent,phone")
    by_list = oracle(IPHONE, candidate_labels=["urgent", "not urgent", "phone"])
    assert by_string == by_list


def test_list_of_sequences_gives_a_list(oracle):
    texts = [IPHONE, "The match ended in a draw"]
    out = oracle(texts, candidate_labels=["sports", "phone"])
    assert isinstance(out, list) and len(out) == 2
    for text, answer in zip(texts, out, strict=True):
        check_answer(answer, text, ["sports", "phone"], sums_to_one=True)
    assert oracle([IPHONE], candidate_labels=["a", "b"])[0]["sequence"] == IPHONE


def test_hypothesis_template_is_checked_then_ignored_with_a_warning(oracle):
    plain = oracle(IPHONE, candidate_labels=URGENCY)
    with pytest.warns(UserWarning, match="hypothesis_template .* is ignored"):
        templated = oracle(IPHONE, candidate_labels=URGENCY, hypothesis_template="The topic of this text is {}.")
    assert templated == plain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oracle(IPHONE, candidate_labels=URGENCY, hypothesis_template="This example is {}.")  # transformers' default
    # two slots, a named slot or a lone brace: str.format's IndexError/KeyError/ValueError, made the same one line
    for template in ("no placeholder", "{} and {}", "This is {label}.", "This is {"):
        with pytest.raises(ValueError, match="was not able to be formatted"):
            oracle(IPHONE, candidate_labels=URGENCY, hypothesis_template=template)


def test_kwargs_reach_the_classifier(oracle):
    with_prompt = oracle(IPHONE, candidate_labels=URGENCY, prompt="How urgent is this support ticket?")
    assert with_prompt != oracle(IPHONE, candidate_labels=URGENCY)


@pytest.mark.parametrize("labels", [[], "", " , "])
def test_no_labels_is_transformers_error(oracle, labels):
    with pytest.raises(ValueError, match="You must include at least one label and at least one sequence."):
        oracle(IPHONE, candidate_labels=labels)
    with pytest.raises(ValueError, match="You must include at least one label and at least one sequence."):
        oracle([], candidate_labels=["a"])


def test_bad_inputs_are_one_line_errors(oracle):
    with pytest.raises(TypeError, match="candidate_labels"):
        oracle(IPHONE)
    with pytest.raises(TypeError, match="sequences must be"):
        oracle(3, candidate_labels=["a"])
    with pytest.raises(TypeError, match="got a list holding int 3"):  # it said "got list"
        oracle(IPHONE, candidate_labels=["a", 3])
    with pytest.raises(ValueError, match="zero-shot-classification"):
        uniclass.pipeline("text-classification")


def test_pipeline_accepts_a_loaded_classifier(oracle):
    again = uniclass.pipeline("zero-shot-classification", model=oracle.model)
    assert again.model is oracle.model
    with pytest.raises(ValueError, match="already loaded"):
        uniclass.pipeline("zero-shot-classification", model=oracle.model, device="cpu")


# ---------------------------------------------------------------- the same shape as transformers' own pipeline
@pytest.mark.parametrize("call", [
    {"sequences": IPHONE, "candidate_labels": URGENCY},
    {"sequences": IPHONE, "candidate_labels": "urgent, not urgent, phone"},
    {"sequences": IPHONE, "candidate_labels": URGENCY, "multi_label": True},
    {"sequences": IPHONE, "candidate_labels": ["urgent"]},
    {"sequences": [IPHONE, "The match ended in a draw"], "candidate_labels": ["sports", "phone"]},
    {"sequences": [IPHONE], "candidate_labels": ["sports", "phone"]},
])
def test_same_shape_as_the_transformers_pipeline(oracle, hf_oracle, call):
    ours, theirs = oracle(**call), hf_oracle(**call)
    assert type(ours) is type(theirs)
    pairs = zip(ours, theirs, strict=True) if isinstance(ours, list) else [(ours, theirs)]
    for a, b in pairs:
        assert set(a) == set(b) and a["sequence"] == b["sequence"]
        assert sorted(a["labels"]) == sorted(b["labels"]) and len(a["scores"]) == len(b["scores"])
        if not call.get("multi_label") and len(a["labels"]) > 1:
            assert math.isclose(sum(a["scores"]), 1.0, abs_tol=1e-6) and math.isclose(sum(b["scores"]), 1.0, abs_tol=1e-5)
        assert all(type(x) is type(y) for x, y in zip(a["scores"], b["scores"], strict=True))
