"""Parity with the official gliclass 0.1.21 outputs stored in tests/fixtures/parity/*/expected.json."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from tests.conftest import PARITY, PARITY_CHECKPOINTS, load_expected
from uniclass.bench.parity import comparable_calls
from uniclass.bench.parity import multi_label as _multi_label

TOLERANCE = 1e-5


def _comparable_calls() -> list[tuple[str, str]]:
    """The selection lives in uniclass.bench.parity, shared with benchmarks/parity_report.py."""
    return comparable_calls(PARITY)


def _call(expected: dict[str, Any], call_id: str) -> dict[str, Any]:
    return next(c for c in expected["calls"] if c["id"] == call_id)


def _max_diff(got: list[list[float]], want: list[list[float]]) -> float:
    assert [len(g) for g in got] == [len(w) for w in want]
    return max(abs(a - b) for g, w in zip(got, want) for a, b in zip(g, w))


@pytest.mark.parametrize(("name", "call_id"), _comparable_calls())
def test_scores_match_official(parity_classifier, name: str, call_id: str) -> None:
    call = _call(load_expected(name), call_id)
    clf = parity_classifier(name)
    kwargs = call["kwargs"]
    got = clf.scores(
        call["texts"],
        call["labels"],
        multi_label=_multi_label(call),
        prompt=kwargs.get("prompt"),
        examples=kwargs.get("examples"),
        batch_size=kwargs["batch_size"],
        max_length=call["pipeline_init"]["max_length"],
    )
    assert _max_diff(got, call["scores"]) <= TOLERANCE


def test_padding_sensitive_checkpoint_is_batch_invariant(parity_classifier) -> None:
    """The official avg pooling changes with padding; uniclass gives the batch-size-1 answer at any batch size."""
    expected = load_expected("uni_bert_promptfirst_avg_wdot")
    clf = parity_classifier("uni_bert_promptfirst_avg_wdot")
    bs1 = _call(expected, "L8_multi_bs1")
    padded = _call(expected, "L8_multi")
    assert _max_diff(padded["scores"], bs1["scores"]) > 1e-3  # the official output does depend on the batch
    for batch_size in (1, 3, 8, 12):
        got = clf.scores(bs1["texts"], bs1["labels"], batch_size=batch_size)
        assert _max_diff(got, bs1["scores"]) <= TOLERANCE


@pytest.mark.parametrize("name", [n for n in PARITY_CHECKPOINTS if n != "biencoder_bert"])
def test_token_ids_match_official(parity_classifier, name: str) -> None:
    """The formatted strings tokenise to exactly the official input ids (label, prompt and example layouts)."""
    from uniclass.processing import WindowPolicy, normalize_request

    clf = parity_classifier(name)
    expected = load_expected(name)
    for call_id in ("L8_multi_bs1", "L8_multi_prompt", "L3_multi_examples", "per_text_labels_multi"):
        call = _call(expected, call_id)
        kwargs = call["kwargs"]
        request = normalize_request(call["texts"], call["labels"], prompt=kwargs.get("prompt"), examples=kwargs.get("examples"))
        plans = clf.engine.plan(request, WindowPolicy(1024))
        ours = [segment.input_ids for plan in plans for segment in plan.segments]
        official = [row for batch in call["batches"] for row in batch["input_ids"]]
        assert sorted(ours) == sorted(official), call_id


@pytest.mark.parametrize("name", [n for n in PARITY_CHECKPOINTS if n != "biencoder_bert"])
def test_model_logits_match_official_batches(parity_classifier, name: str) -> None:
    """Model-level check that bypasses tokenisation: official input ids in, official logits out (bs1 batches)."""
    clf = parity_classifier(name)
    call = _call(load_expected(name), "L40_multi_bs1")
    worst = 0.0
    for batch in call["batches"]:
        ids = torch.tensor(batch["input_ids"])
        with torch.inference_mode():
            logits = clf.model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                slot_counts=torch.tensor([batch["max_num_classes"]]),
            )
        want = torch.tensor(batch["logits"])
        worst = max(worst, (logits - want).abs().max().item())
    assert worst <= 1e-4


@pytest.mark.parametrize("name", ["uni_bert_default", "uni_deberta_default", "uni_bert_promptfirst_avg_wdot"])
def test_truncation_keeps_every_label(parity_classifier, name: str) -> None:
    """max_length=24: the official call cut label tokens (bogus scores); uniclass keeps every label whole.

    The 8-label block alone exceeds the window, so labels are scored in contiguous groups; each group's scores
    equal scoring that group on its own in the same window.
    """
    from uniclass.processing import split_evenly

    call = _call(load_expected(name), "L8_multi_maxlen24")
    clf = parity_classifier(name)
    labels = call["labels"]
    with pytest.warns(UserWarning, match="separate groups"):
        predictions = clf.predict(call["texts"], labels, max_length=24)
    official_max_diff = _max_diff([p.scores for p in predictions], call["scores"])
    assert official_max_diff > 1e-3  # the official scores came from cut labels
    for text, prediction in zip(call["texts"], predictions):
        assert prediction.labels == labels and prediction.label_groups > 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alone = [clf.predict(text, group, max_length=24)[0] for group in split_evenly(labels, prediction.label_groups)]
        assert all(a.label_groups == 1 for a in alone)
        assert max(abs(x - y) for x, y in zip(prediction.scores, [s for a in alone for s in a.scores])) <= TOLERANCE


@pytest.mark.parametrize("name", ["uni_bert_default", "uni_deberta_default"])
def test_truncation_cuts_only_the_text(parity_classifier, name: str) -> None:
    """A text too long for the window keeps its first tokens; labels stay intact and the result says so."""
    clf = parity_classifier(name)
    labels = ["sports", "finance", "technology"]
    text = load_expected(name)["texts"][7]
    with pytest.warns(UserWarning, match="truncated"):
        cut = clf.predict(text, labels, max_length=40)[0]
    assert cut.truncated and cut.label_groups == 1 and 0 < cut.text_tokens_used < cut.text_tokens
    # the same scores as giving the model only the kept text tokens, with room to spare
    ids = clf.tokenizer(text, add_special_tokens=False)["input_ids"]
    offsets = clf.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert len(ids) == cut.text_tokens
    kept_text = text[: offsets[cut.text_tokens_used - 1][1]]
    whole = clf.predict(kept_text, labels, max_length=1024)[0]
    assert not whole.truncated
    assert max(abs(a - b) for a, b in zip(cut.scores, whole.scores)) <= TOLERANCE


def test_biencoder_per_text_label_lists(parity_classifier) -> None:
    """The official bi-encoder crashes on per-text label lists of different lengths; uniclass scores them,
    and each text's scores equal the shared-label call for that text alone."""
    expected = load_expected("biencoder_bert")
    call = _call(expected, "per_text_labels_multi")
    assert call.get("error")
    clf = parity_classifier("biencoder_bert")
    got = clf.scores(call["texts"], call["labels"], batch_size=8)
    for text, labels, scores in zip(call["texts"], call["labels"], got):
        assert len(scores) == len(labels)
        alone = clf.scores(text, labels)
        assert max(abs(a - b) for a, b in zip(scores, alone)) <= TOLERANCE
