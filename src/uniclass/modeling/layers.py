"""Building blocks shared by every GLiClass architecture: projectors, the BiLSTM, and mask-aware pooling.

Module and parameter names follow the official code (``linear_1``, ``linear_2``, ``lstm.lstm.*``) so that
official state dicts load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers.activations import ACT2FN


class FeaturesProjector(nn.Module):
    """linear -> activation -> dropout -> linear, applied to text and label vectors."""

    def __init__(self, in_size: int, hidden_size: int, out_size: int, act: str = "gelu", dropout: float = 0.1):
        super().__init__()
        self.linear_1 = nn.Linear(in_size, hidden_size)
        self.act = ACT2FN[act]
        self.dropout = nn.Dropout(dropout)
        self.linear_2 = nn.Linear(hidden_size, out_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.dropout(self.act(self.linear_1(features))))


class BiEncoderProjector(nn.Module):
    """Maps label-encoder vectors into the text encoder's space (no dropout, as in the official code)."""

    def __init__(self, in_size: int, hidden_size: int, out_size: int, act: str = "gelu"):
        super().__init__()
        self.linear_1 = nn.Linear(in_size, hidden_size)
        self.act = ACT2FN[act]
        self.linear_2 = nn.Linear(hidden_size, out_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(features)))


class LstmSeq2SeqEncoder(nn.Module):
    """BiLSTM over the (left-aligned) real tokens of each row; padded positions come out as zeros."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor, real_mask: torch.Tensor) -> torch.Tensor:
        lengths = real_mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return output


def pool_tokens(strategy: str, x: torch.Tensor, real_mask: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
    """Pool token vectors into one text vector per row, independently of batch padding.

    Args:
        strategy: one of ``first, last, avg, max, sum, rms, abs_max, abs_avg`` (``pass`` is handled by the
            caller, which keeps all token vectors).
        x: ``[B, L, D]`` token vectors whose real tokens are left-aligned.
        real_mask: ``[B, L]``, 1 where ``x`` holds a real token.
        span: ``[B]`` the length of the buffer the official code pools over when this row is run alone
            (batch size 1). It equals the number of real tokens, except with ``extract_text_features``, where
            the official buffer keeps the full sequence length and fills the tail with zeros: those zeros
            count in ``avg``/``rms``/``abs_avg`` denominators, make ``last`` a zero vector and enter ``max``.

    The official poolers ignore the attention mask, so their output depends on
    how much padding the batch has. Computing the batch-size-1 result for every row makes results identical
    whatever the batch, and equal to the official output at batch size 1.
    """
    mask = real_mask.to(x.dtype).unsqueeze(-1)
    x = x * mask
    denom = span.to(x.dtype).unsqueeze(-1)
    if strategy == "first":
        return x[:, 0]
    if strategy == "last":
        index = (span - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, x.shape[-1])
        return x.gather(1, index).squeeze(1)
    if strategy == "avg":
        return x.sum(1) / denom
    if strategy == "sum":
        return x.sum(1)
    if strategy == "rms":
        return (x.pow(2).sum(1) / denom).sqrt()
    if strategy == "abs_max":
        return x.abs().amax(1)
    if strategy == "abs_avg":
        return x.abs().sum(1) / denom
    if strategy == "max":
        pooled = x.masked_fill(mask == 0, torch.finfo(x.dtype).min).amax(1)
        has_zero_tail = (real_mask.sum(1) < span).unsqueeze(-1)
        return torch.where(has_zero_tail, pooled.clamp(min=0), pooled)
    raise ValueError(f"Unknown pooling strategy {strategy!r}")
