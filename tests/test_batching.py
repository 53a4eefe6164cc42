"""Token-budget batching: batches bounded by rows and by padded tokens, every row once, scores unchanged."""

from __future__ import annotations

import random

import numpy as np
import pytest

from uniclass.batching import pad_ids, plan_batches


def _padded_tokens(batch: list[int], lengths: list[int]) -> int:
    return len(batch) * max(lengths[i] for i in batch)


@pytest.mark.parametrize("seed", range(5))
def test_batches_respect_both_limits_and_cover_every_row(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(1, 300) for _ in range(200)]
    batches = plan_batches(lengths, batch_size=16, max_batch_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for batch in batches:
        assert len(batch) <= 16
        assert _padded_tokens(batch, lengths) <= 1024 or len(batch) == 1
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths == sorted(widths, reverse=True)  # longest first, so each batch holds similar lengths
    # the budget lets short rows share batches: fewer batches than rows, more rows per batch at the short end
    assert len(batches) < 200 and max(len(b) for b in batches[len(batches) // 2 :]) > len(batches[0])


def test_without_budget_it_is_plain_length_sorted_batching() -> None:
    lengths = [5, 9, 1, 7, 3]
    assert plan_batches(lengths, batch_size=2) == [[1, 3], [0, 4], [2]]


def test_a_row_longer_than_the_budget_gets_its_own_batch() -> None:
    assert plan_batches([500, 10, 10], batch_size=8, max_batch_tokens=100) == [[0], [1, 2]]


@pytest.mark.parametrize(("batch_size", "budget", "match"), [(0, None, "batch_size"), (True, None, "batch_size"),
                                                              (4, 0, "max_batch_tokens"), (4, 2.5, "max_batch_tokens")])
def test_bad_options(batch_size, budget, match) -> None:
    with pytest.raises(ValueError, match=match):
        plan_batches([1, 2], batch_size=batch_size, max_batch_tokens=budget)


def test_pad_ids() -> None:
    ids, mask = pad_ids([[4, 5], [6], [7, 8, 9]], pad_id=0)
    assert ids.dtype == np.int64 and ids.tolist() == [[4, 5, 0], [6, 0, 0], [7, 8, 9]]
    assert mask.tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]


def test_classifier_token_budget_bounds_batches_and_keeps_scores(parity_classifier, one_torch_thread) -> None:
    """Through the classifier: every model call stays within the budget, and scores equal unbudgeted ones."""
    from tests.conftest import load_expected

    clf = parity_classifier("uni_bert_promptfirst_avg_wdot")  # padding-sensitive options
    texts = load_expected("uni_bert_default")["texts"]
    labels = ["sports", "business and finance", "science"]
    reference = clf.scores(texts, labels, batch_size=32)
    shapes: list[tuple[int, int]] = []
    backend = clf.backend
    original = backend.run

    def recording(batch):
        shapes.append(batch["input_ids"].shape)
        return original(batch)

    backend.run = recording
    try:
        budgeted = clf.scores(texts, labels, batch_size=32, max_batch_tokens=160)
    finally:
        del backend.run
    assert all(rows * width <= 160 or rows == 1 for rows, width in shapes)  # a longer text runs alone
    assert len(shapes) > 1 and max(rows for rows, _ in shapes) > 1
    assert np.abs(np.array(budgeted) - np.array(reference)).max() <= 1e-6
    with pytest.raises(ValueError, match="max_batch_tokens"):
        clf.scores(texts, labels, max_batch_tokens=-1)


def test_from_pretrained_defaults_to_a_token_budget() -> None:
    """Batches of long texts are cut at DEFAULT_MAX_BATCH_TOKENS unless the caller opts out with None."""
    from tests.conftest import PARITY

    from uniclass import Classifier
    from uniclass.batching import DEFAULT_MAX_BATCH_TOKENS

    assert Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu").max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS
    assert Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", max_batch_tokens=None).max_batch_tokens is None
    assert plan_batches([512] * 32, batch_size=32, max_batch_tokens=DEFAULT_MAX_BATCH_TOKENS) == [
        list(range(i, i + 16)) for i in (0, 16)]  # 32 rows of 512 tokens: two batches of 16
