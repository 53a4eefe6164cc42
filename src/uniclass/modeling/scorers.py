"""Scorers: turn a text vector and K label vectors into K logits.

Notation: ``text`` is ``[B, D]`` (or ``[B, L, D]`` token vectors for ``cross-attn``), ``labels`` is
``[B, K, D]``. Parameter names match the official ``gliclass/scorers.py`` so state dicts load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The official MLPScorer/HopfieldScorer receive ``scorer_mlp_hidden_size`` under a keyword they do not
# read, so their widths are always 256/128.
_FIXED_MLP_WIDTH = 256


def _mlp(in_size: int, width: int, act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_size, width), act(), nn.Linear(width, width // 2), act(), nn.Linear(width // 2, 1)
    )


class SimpleScorer(nn.Module):
    """Dot product between the text vector and each label vector."""

    def forward(self, text: torch.Tensor, labels: torch.Tensor, **_: object) -> torch.Tensor:
        return torch.einsum("bd,bkd->bk", text, labels)


class WeightedDotScorer(nn.Module):
    """MLP over ``[t1; c1; t2*c2]`` where ``(t1, t2)`` and ``(c1, c2)`` are halves of projected vectors."""

    def __init__(self, hidden_size: int, dropout: float = 0.1):
        super().__init__()
        self.proj_text = nn.Linear(hidden_size, hidden_size * 2)
        self.proj_label = nn.Linear(hidden_size, hidden_size * 2)
        self.out_mlp = nn.Sequential(
            nn.Linear(hidden_size * 3, hidden_size * 4), nn.Dropout(dropout), nn.ReLU(), nn.Linear(hidden_size * 4, 1)
        )

    def forward(self, text: torch.Tensor, labels: torch.Tensor, **_: object) -> torch.Tensor:
        t1, t2 = self.proj_text(text).unsqueeze(1).chunk(2, dim=-1)  # [B, 1, D] each
        c1, c2 = self.proj_label(labels).chunk(2, dim=-1)  # [B, K, D] each
        t1 = t1.expand_as(c1)
        return self.out_mlp(torch.cat([t1, c1, t2 * c2], dim=-1)).squeeze(-1)


class MLPScorer(nn.Module):
    """MLP over the concatenation ``[t; c_k]`` (widths 256/128)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.mlp = _mlp(hidden_size * 2, _FIXED_MLP_WIDTH, nn.ReLU)

    def forward(self, text: torch.Tensor, labels: torch.Tensor, **_: object) -> torch.Tensor:
        text = text.unsqueeze(1).expand_as(labels)
        return self.mlp(torch.cat([text, labels], dim=-1)).squeeze(-1)


class HopfieldScorer(nn.Module):
    """One Hopfield update of each label vector towards the text, then an MLP (widths 256/128).

    The attention weights are a softmax **over labels**, so they depend on every label slot the model was
    given, padded slots included. ``slot_mask`` says which slots the official code would have allocated for
    this row alone (see ``GLiClassConfig.label_slots``), which keeps the result independent of the batch.
    """

    beta = 4.0

    def __init__(self, hidden_size: int):
        super().__init__()
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.mlp = _mlp(hidden_size, _FIXED_MLP_WIDTH, nn.ReLU)

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, slot_mask: torch.Tensor | None = None, **_: object
    ) -> torch.Tensor:
        text = text.unsqueeze(1)  # [B, 1, D]
        attn = torch.bmm(self.q_proj(labels), self.k_proj(text).transpose(1, 2)) * self.beta  # [B, K, 1]
        if slot_mask is not None:
            attn = attn.masked_fill(~slot_mask.bool().unsqueeze(-1), float("-inf"))
        attn = attn.softmax(dim=1)
        labels = labels + attn * self.v_proj(text)
        return self.mlp(labels).squeeze(-1)


class CrossAttnScorer(nn.Module):
    """Each label attends over the text tokens (multi-head), then an MLP over ``[context; label]``."""

    def __init__(self, hidden_size: int, num_heads: int = 16, attn_dropout: float = 0.1, mlp_hidden_size: int = 1024):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"cross-attn scorer: hidden_size {hidden_size} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.q_norm = nn.LayerNorm(hidden_size)
        self.kv_norm = nn.LayerNorm(hidden_size)
        self.q = nn.Linear(hidden_size, hidden_size)
        self.k = nn.Linear(hidden_size, hidden_size)
        self.v = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.score_mlp = _mlp(hidden_size * 2, mlp_hidden_size, nn.GELU)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, text_mask: torch.Tensor | None = None, **_: object
    ) -> torch.Tensor:
        batch, num_labels, dim = labels.shape
        q = self._heads(self.q(self.q_norm(labels)))
        k = self._heads(self.k(self.kv_norm(text)))
        v = self._heads(self.v(text))
        attn_mask = None if text_mask is None else text_mask.bool()[:, None, None, :]
        dropout = self.attn_dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        context = self.norm(self.out(context.transpose(1, 2).reshape(batch, num_labels, dim)))
        return self.score_mlp(torch.cat([context, labels], dim=-1)).squeeze(-1)


def build_scorer(config) -> nn.Module:
    """The scorer named by ``config.scorer_type``; widths use ``config.hidden_size`` like the official code."""
    size = config.hidden_size
    kind = config.scorer_type
    if kind == "simple":
        return SimpleScorer()
    if kind == "weighted-dot":
        return WeightedDotScorer(size)
    if kind == "mlp":
        return MLPScorer(size)
    if kind == "hopfield":
        return HopfieldScorer(size)
    if kind == "cross-attn":
        return CrossAttnScorer(size, config.scorer_num_heads, config.scorer_attn_dropout, config.scorer_mlp_hidden_size)
    raise ValueError(f"Unknown scorer_type {kind!r}")
