"""Batching: length-sorted, token-budget batches, and padding id lists into arrays.

Numpy only at import time: the ONNX Runtime path pads with ``pad_ids``; ``pad_sequences`` (torch tensors, used
by the torch backend's training collator) imports torch when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists into ``(input_ids, attention_mask)``, both ``[len(rows), longest]`` int64 arrays.

    Example:
        >>> ids, mask = pad_ids([[5, 6, 7], [8]], pad_id=0)
        >>> ids.tolist(), mask.tolist()
        ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    """
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def pad_sequences(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``(input_ids, attention_mask)``, both ``[len(rows), longest]`` long tensors."""
    import torch

    ids, mask = pad_ids(rows, pad_id)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    if device is not None:
        ids_t, mask_t = ids_t.to(device), mask_t.to(device)
    return ids_t, mask_t


# The classifier's default token budget per batch (``Classifier.from_pretrained(max_batch_tokens=...)``). Why 8,192:
# without a budget, 32 long texts share one batch (32 x 512 = 16k padded tokens, more with long windows), which
# bounds neither memory nor padding; a short sweep (benchmarks/batching_sweep.py) measured 1.25x at
# batch size 32 with this budget, but `python -m uniclass_lab bench official` on the same mix saw no difference beyond
# noise, so the reason to keep it is the bound, at no measured cost. Short texts still fill ``batch_size`` rows;
# only batches of long texts get fewer rows. Scores do not depend on batching.
DEFAULT_MAX_BATCH_TOKENS = 8_192


def plan_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[list[int]]:
    """Indices of the rows in each batch: longest rows first, so each batch pads to similar lengths.

    A batch holds at most ``batch_size`` rows and, with ``max_batch_tokens``, at most that many *padded* tokens
    (rows x longest row), so short texts are batched many at a time and long ones few at a time: memory and
    time per batch stay bounded whatever the length mix. A row longer than the budget gets a batch of its own.

    Example:
        >>> plan_batches([10, 200, 30, 20], batch_size=8, max_batch_tokens=100)
        [[1], [2, 3, 0]]
    """
    check_batch_options(batch_size, max_batch_tokens)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for index in order:
        width_if_added = max(width, lengths[index])
        too_many_tokens = max_batch_tokens is not None and width_if_added * (len(current) + 1) > max_batch_tokens
        if current and (len(current) >= batch_size or too_many_tokens):
            batches.append(current)
            current, width_if_added = [], lengths[index]
        current.append(index)
        width = width_if_added
    if current:
        batches.append(current)
    return batches


def check_batch_options(batch_size: Any, max_batch_tokens: Any) -> None:
    """Raise ``ValueError`` for a batch size or token budget that is not a positive int."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if max_batch_tokens is not None and (
        isinstance(max_batch_tokens, bool) or not isinstance(max_batch_tokens, int) or max_batch_tokens < 1
    ):
        raise ValueError(f"max_batch_tokens must be a positive int or None, got {max_batch_tokens!r}")
