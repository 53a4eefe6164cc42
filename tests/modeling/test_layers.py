"""Mask-aware pooling equals the official pooling of each row alone (hand-computed values)."""

from __future__ import annotations

import pytest
import torch

from uniclass.modeling.layers import pool_tokens

# one row with 3 real tokens of width 2, padded to 5
X = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [-1.0, 4.0], [9.0, 9.0], [9.0, 9.0]]])
MASK = torch.tensor([[1, 1, 1, 0, 0]])


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("first", [1.0, -2.0]),
        ("last", [-1.0, 4.0]),
        ("avg", [1.0, 2.0 / 3.0]),
        ("sum", [3.0, 2.0]),
        ("max", [3.0, 4.0]),
        ("rms", [(11 / 3) ** 0.5, (20 / 3) ** 0.5]),
        ("abs_max", [3.0, 4.0]),
        ("abs_avg", [5 / 3, 2.0]),
    ],
)
def test_pooling_ignores_padding(strategy: str, expected: list[float]) -> None:
    pooled = pool_tokens(strategy, X, MASK, MASK.sum(1))
    assert pooled[0].tolist() == pytest.approx(expected)


def test_zero_tail_of_extract_text_features() -> None:
    """With extract_text_features the official buffer keeps the row length: zeros count in means and max."""
    span = torch.tensor([4])  # 3 text tokens in a 4-token row
    assert pool_tokens("avg", X, MASK, span)[0].tolist() == pytest.approx([3 / 4, 2 / 4])
    assert pool_tokens("last", X, MASK, span)[0].tolist() == [0.0, 0.0]
    negative = -X.abs()
    assert pool_tokens("max", negative, MASK, span)[0].tolist() == [0.0, 0.0]
    assert pool_tokens("max", negative, MASK, MASK.sum(1))[0].tolist() == [-1.0, 0.0]
