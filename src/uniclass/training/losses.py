"""Training losses over label logits ``[B, K]`` with a mask of the real label slots ``[B, K]``.

The official multi-label loss averages over *all* slots, padding included (so it shrinks as padding grows),
and the official single-label loss crashes (``view(-1, -1)``). Here every loss is
normalised by the real slots only, and single-label training is a softmax cross-entropy over each text's own
labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Focal binary cross-entropy per label slot, averaged over the real slots.

    ``loss = alpha_t * (1 - p_t) ** gamma * BCE(logit, target)``; ``gamma=0`` and ``alpha<0`` give plain BCE.
    ``label_smoothing`` moves targets towards 0.5: ``t * (1 - eps) + 0.5 * eps``. Targets may be soft.
    """

    def __init__(self, alpha: float = 0.5, gamma: float = 2.0, label_smoothing: float = 0.0):
        super().__init__()
        self.alpha, self.gamma, self.label_smoothing = alpha, gamma, label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        if self.label_smoothing:
            targets = targets * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        if self.gamma > 0:
            p = torch.sigmoid(logits)
            p_t = p * targets + (1 - p) * (1 - targets)
            loss = loss * (1 - p_t) ** self.gamma
        if self.alpha >= 0:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        mask = mask.to(loss.dtype)
        return (loss * mask).sum() / mask.sum().clamp(min=1)


class SoftmaxCrossEntropyLoss(nn.Module):
    """Single-label loss: cross-entropy of the softmax over each text's real labels.

    Targets are per-slot scores; they are normalised to a distribution per row (a one-hot row is the usual
    case). Rows without any positive target are skipped.
    """

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        log_probs = logits.masked_fill(~mask, float("-inf")).log_softmax(dim=-1)
        targets = targets.to(logits.dtype) * mask
        total = targets.sum(dim=-1, keepdim=True)
        valid = total.squeeze(-1) > 0
        dist = targets / total.clamp(min=1e-12)
        if self.label_smoothing:
            uniform = mask.to(logits.dtype) / mask.sum(dim=-1, keepdim=True).clamp(min=1)
            dist = dist * (1 - self.label_smoothing) + uniform * self.label_smoothing
        per_row = -(dist * log_probs.masked_fill(~mask, 0.0)).sum(dim=-1)
        return per_row[valid].sum() / valid.sum().clamp(min=1)


def label_contrastive_loss(label_vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Push a text's label vectors apart: each label must be most similar to itself among its row's labels.

    The official version lets padded slots compete in the softmax; here only real slots do.
    """
    vectors = F.normalize(label_vectors, p=2, dim=-1)
    sim = vectors @ vectors.transpose(1, 2)  # [B, K, K]
    mask = mask.bool()
    sim = sim.masked_fill(~mask.unsqueeze(1), float("-inf"))
    target = torch.arange(sim.shape[-1], device=sim.device).expand(sim.shape[0], -1)
    loss = F.cross_entropy(sim.reshape(-1, sim.shape[-1]), target.reshape(-1), reduction="none").view_as(mask)
    loss = loss.masked_fill(~mask, 0.0)
    return loss.sum() / mask.sum().clamp(min=1)
