"""Losses against hand-computed values, including padded slots and single-label."""

from __future__ import annotations

import math

import pytest
import torch

from uniclass.training.losses import FocalLoss, SoftmaxCrossEntropyLoss, label_contrastive_loss


def bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


LOGITS = torch.tensor([[2.0, -1.0, 9.0], [0.5, 0.0, 0.0]])
TARGETS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])  # row 0 has a padded slot with a huge logit


def test_bce_averages_over_real_slots_only() -> None:
    real = [(2.0, 1.0), (-1.0, 0.0), (0.5, 0.0), (0.0, 1.0), (0.0, 0.0)]
    expected = sum(bce(x, t) for x, t in real) / 5
    got = FocalLoss(alpha=-1, gamma=0)(LOGITS, TARGETS, MASK)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_focal_modulation_and_alpha() -> None:
    alpha, gamma = 0.25, 2.0
    total = 0.0
    for x, t in [(2.0, 1.0), (-1.0, 0.0), (0.5, 0.0), (0.0, 1.0), (0.0, 0.0)]:
        p = 1 / (1 + math.exp(-x))
        p_t = p * t + (1 - p) * (1 - t)
        total += (alpha * t + (1 - alpha) * (1 - t)) * (1 - p_t) ** gamma * bce(x, t)
    got = FocalLoss(alpha=alpha, gamma=gamma)(LOGITS, TARGETS, MASK)
    assert got.item() == pytest.approx(total / 5, rel=1e-6)


def test_label_smoothing_moves_targets_to_half() -> None:
    eps = 0.2
    got = FocalLoss(alpha=-1, gamma=0, label_smoothing=eps)(torch.tensor([[1.0]]), torch.tensor([[1.0]]), torch.tensor([[1]]))
    assert got.item() == pytest.approx(bce(1.0, 1 - eps / 2), rel=1e-6)


def test_soft_targets() -> None:
    got = FocalLoss(alpha=-1, gamma=0)(torch.tensor([[0.3]]), torch.tensor([[0.7]]), torch.tensor([[1]]))
    assert got.item() == pytest.approx(bce(0.3, 0.7), rel=1e-6)


def test_softmax_cross_entropy_ignores_padded_slots() -> None:
    # row 0: softmax over [2, -1] only; row 1: softmax over [0.5, 0, 0], target index 1
    row0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(-1)))
    row1 = -math.log(1 / (math.exp(0.5) + 2))
    got = SoftmaxCrossEntropyLoss()(LOGITS, TARGETS, MASK)
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_softmax_skips_rows_without_a_positive() -> None:
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    row0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(-1)))
    assert SoftmaxCrossEntropyLoss()(LOGITS, targets, MASK).item() == pytest.approx(row0, rel=1e-6)


def test_softmax_label_smoothing() -> None:
    eps = 0.1
    logits = torch.tensor([[1.0, 0.0]])
    log_p = torch.log_softmax(logits, -1)[0]
    expected = -((1 - eps + eps / 2) * log_p[0] + (eps / 2) * log_p[1])
    got = SoftmaxCrossEntropyLoss(eps)(logits, torch.tensor([[1.0, 0.0]]), torch.tensor([[1, 1]]))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_label_contrastive_loss() -> None:
    # two orthogonal labels and one padded slot identical to label 0: the padding must not compete
    vectors = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    per_label = -math.log(math.e / (math.e + 1))  # cos 1 vs cos 0
    assert label_contrastive_loss(vectors, mask).item() == pytest.approx(per_label, rel=1e-6)
