"""Padding token id lists into tensors (shared by inference batching and the training collator)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_sequences(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``(input_ids, attention_mask)``, both ``[len(rows), longest]`` long tensors."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask
