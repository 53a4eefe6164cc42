"""Attention for bf16 encoders on the CPU: SDPA on real lengths rounded up to 32, rows grouped by that length.

Why: torch's CPU flash-attention kernel is very sensitive to the key length. On 2 threads, bf16, 12 heads of 32
(MiniLM), a batch at length 256 or 288 runs about 1.8x faster than one at 262 or 300
(``benchmarks/attention_kernels.py``), and lengths that are multiples of 32 are consistently the
fast ones. A padded batch also pays for every padding key and query, and transformers hands SDPA
a materialised ``[B, 1, L, L]`` boolean mask that the kernel
reads in full. For the short-text/long-text mixes a classifier sees, most of a bf16 forward's attention time
(about half of the whole forward on the dev mix) was this waste, not arithmetic.

So :func:`padded_sdpa_attention` (registered with transformers as ``"uniclass_cpu_sdpa"``):

* receives the 2-D key padding mask as ``[B, 1, 1, L]`` (:func:`key_padding_mask`, the mask function registered
  under the same name), never the ``[B, 1, L, L]`` one;
* runs the rows in groups of equal real length rounded up to a multiple of 32 (one SDPA call per group: one
  for a length-sorted batch of similar texts, a few for a batch of mixed lengths), each group at its aligned
  length with the keys past each row's real length masked, or with no mask at all when every row fills it;
* leaves padding positions with values no real token reads (real tokens never attend to padding keys, and
  pooling masks padding rows out): zeros past a group's aligned length, below it what padding queries get.

The arithmetic is SDPA's own on the same real keys, so results differ from the batched call only by bf16
rounding order. Anything it was not written for (a 4-D mask from a custom mask function, non-prefix padding,
dropout in training, causal attention, tensors off the CPU) goes to transformers' own ``sdpa`` function
unchanged, so the swap is always safe.

Example:
    >>> import torch
    >>> from uniclass.backends.cpu_attention import padded_sdpa
    >>> q = k = v = torch.randn(2, 4, 40, 32, dtype=torch.bfloat16)
    >>> mask = torch.tensor([[1] * 40, [1] * 33 + [0] * 7], dtype=torch.bool)[:, None, None, :]
    >>> padded_sdpa(q, k, v, mask, scale=None).shape  # [B, L, H, D], as transformers' attention functions return
    torch.Size([2, 40, 4, 32])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ALIGN", "ATTENTION_NAME", "key_padding_mask", "padded_sdpa", "padded_sdpa_attention", "use_padded_sdpa"]

ATTENTION_NAME = "uniclass_cpu_sdpa"
ALIGN = 32  # key lengths the CPU flash kernel runs fastest at (benchmarks/attention_kernels.py)


def _round_up(n: int) -> int:
    return n + (-n) % ALIGN


def key_padding_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
    mask_function: Any = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> torch.Tensor | None:
    """transformers mask function: the padding mask as ``[B, 1, 1, L]`` booleans for plain bidirectional
    attention (``None`` when nothing is padded); any other pattern gets transformers' full SDPA mask."""
    from transformers.masking_utils import bidirectional_mask_function, sdpa_mask

    plain = mask_function is bidirectional_mask_function and q_offset == 0 and kv_offset == 0
    if not plain or (attention_mask is not None and attention_mask.dim() != 2):
        return sdpa_mask(
            batch_size=batch_size,
            q_length=q_length,
            kv_length=kv_length,
            q_offset=q_offset,
            kv_offset=kv_offset,
            mask_function=mask_function,
            attention_mask=attention_mask,
            **kwargs,
        )
    if attention_mask is None:
        return None
    keep = attention_mask[:, :kv_length].to(torch.bool)
    return None if bool(keep.all()) else keep[:, None, None, :]


def _prefix_lengths(mask: torch.Tensor | None, batch: int, length: int) -> list[int] | None:
    """Real lengths per row when ``mask`` (``[B, 1, 1, L]``) keeps a prefix of every row; None otherwise."""
    if mask is None:
        return [length] * batch
    if mask.dtype != torch.bool or mask.shape != (batch, 1, 1, length):
        return None
    keep = mask[:, 0, 0, :]
    lengths = keep.sum(-1)
    prefix = torch.arange(length, device=keep.device)[None, :] < lengths[:, None]
    if not bool(torch.equal(prefix, keep)) or bool((lengths == 0).any()):
        return None
    return lengths.tolist()


def _groups(lengths: list[int]) -> list[tuple[int, list[int]]]:
    """Rows grouped by their 32-aligned length, as ``(aligned length, row indices)``, shortest first."""
    groups: dict[int, list[int]] = {}
    for row, n in enumerate(lengths):
        groups.setdefault(_round_up(n), []).append(row)
    return sorted(groups.items())


def _rows(tensor: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``tensor[rows]``: a view when the rows are consecutive (length-sorted batches), else a gather."""
    if rows == list(range(rows[0], rows[-1] + 1)):
        return tensor[rows[0] : rows[-1] + 1]
    return tensor[torch.tensor(rows, device=tensor.device)]


def padded_sdpa(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, scale: float | None
) -> torch.Tensor | None:
    """SDPA per group of rows with the same 32-aligned real length; ``[B, L, H, D]``, or None if ``mask`` is not
    a prefix mask.

    ``query``/``key``/``value`` are ``[B, H, L, D]``. A group runs at its aligned length ``A`` (keys past each
    row's real length masked, no mask when every row fills ``A``), zero-padded where ``A`` exceeds ``L``; outputs
    past ``A`` are zeros, and outputs at padding positions below ``A`` are those of padding queries over the real
    keys (finite, never read by a real token).
    """
    batch, heads, length, dim = query.shape
    lengths = _prefix_lengths(mask, batch, length)
    if lengths is None:
        return None
    out = query.new_empty(batch, length, heads, dim)
    for aligned, rows in _groups(lengths):
        q, k, v = (_rows(t, rows)[:, :, :aligned] for t in (query, key, value))
        if aligned > length:  # the longest rows of a batch whose length is not a multiple of 32
            pad = (0, 0, 0, aligned - length)
            q, k, v = F.pad(q, pad), F.pad(k, pad), F.pad(v, pad)
        real = torch.tensor([lengths[row] for row in rows], device=q.device)
        keep = None
        if bool((real < aligned).any()):
            keep = (torch.arange(aligned, device=q.device)[None, :] < real[:, None])[:, None, None, :]
        result = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale).transpose(1, 2)
        _write(out, rows, result[:, : min(aligned, length)])
    return out


def _write(out: torch.Tensor, rows: list[int], result: torch.Tensor) -> None:
    """``out[rows, :width] = result`` and zeros after ``width`` (a slice for consecutive rows, else per row)."""
    width = result.shape[1]
    if rows == list(range(rows[0], rows[-1] + 1)):
        block = out[rows[0] : rows[-1] + 1]
        block[:, :width] = result
        block[:, width:] = 0
        return
    for i, row in enumerate(rows):
        out[row, :width] = result[i]
        out[row, width:] = 0


def padded_sdpa_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function (the ``sdpa`` signature): :func:`padded_sdpa` where it applies, else sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)  # transformers' default
    usable = (
        query.device.type == "cpu"
        and not causal
        and not (module.training and dropout > 0)
        and key.shape == query.shape
        and not kwargs.get("output_attentions")
    )
    out = padded_sdpa(query, key, value, attention_mask, scaling) if usable else None
    if out is not None:
        return out, None
    if attention_mask is not None and attention_mask.shape[-2] == 1 and query.shape[2] > 1:
        attention_mask = attention_mask.expand(-1, -1, query.shape[2], -1)
    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
    )


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION_NAME, padded_sdpa_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, key_padding_mask)


def use_padded_sdpa(backbone: nn.Module) -> bool:
    """Switch a transformers backbone running ``sdpa`` to :func:`padded_sdpa_attention` (in place).

    Only models that dispatch attention through transformers' ``AttentionInterface`` and run ``sdpa`` now are
    switched (BERT, MiniLM, RoBERTa, ModernBERT...); DeBERTa's own attention and eager/flash choices are left
    alone. Returns whether it was switched.
    """
    config = getattr(backbone, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) not in ("sdpa", ATTENTION_NAME):
        return False
    if not getattr(backbone, "_supports_attention_backend", False):
        return False
    _register()
    for module in backbone.modules():
        sub = getattr(module, "config", None)
        if sub is not None and getattr(sub, "_attn_implementation", None) == "sdpa":
            sub._attn_implementation = ATTENTION_NAME
    return True
