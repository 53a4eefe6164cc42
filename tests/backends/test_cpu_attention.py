"""backends.cpu_attention: per-sequence, 32-aligned SDPA gives the batched result on every real token, hands
anything else to transformers' sdpa, and is switched on only where transformers dispatches attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel
from transformers.masking_utils import and_masks, bidirectional_mask_function

from uniclass.backends.cpu_attention import (
    ALIGN,
    ATTENTION_NAME,
    key_padding_mask,
    padded_sdpa,
    padded_sdpa_attention,
    use_padded_sdpa,
)


def _qkv(batch: int, length: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, length, 8, generator=generator).to(dtype) for _ in range(3)]


def _prefix_mask(lengths: list[int], length: int) -> torch.Tensor:
    keep = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    return keep[:, None, None, :]


def _batched(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    full = None if mask is None else mask.expand(-1, -1, q.shape[2], -1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=full).transpose(1, 2)


@pytest.mark.parametrize("lengths", [[70, 64, 33, 1], [32, 32], [5, 40, 31], [70, 3, 66, 65, 40], [100, 97, 90, 2]])
def test_real_tokens_get_the_batched_result_and_padding_stays_finite(lengths: list[int]) -> None:
    length = max(lengths)
    q, k, v = _qkv(len(lengths), length)
    mask = _prefix_mask(lengths, length)
    got = padded_sdpa(q, k, v, mask, scale=None)
    want = _batched(q, k, v, mask)
    assert got is not None and got.shape == (len(lengths), length, 3, 8)
    assert torch.isfinite(got).all()
    for row, n in enumerate(lengths):
        assert torch.allclose(got[row, :n], want[row, :n], atol=1e-5)
        assert not got[row, n + (-n) % ALIGN:].any()  # past the row's aligned length: zeros


def test_rows_are_grouped_by_aligned_length() -> None:
    from uniclass.backends import cpu_attention

    # consecutive rows of one 32-bucket share a call; unsorted rows of a bucket are gathered
    assert cpu_attention._groups([70, 3, 66, 65, 40]) == [(32, [1]), (64, [4]), (96, [0, 2, 3])]
    assert cpu_attention._groups([300, 290, 288]) == [(288, [2]), (320, [0, 1])]


def test_lengths_that_need_aligning_use_masked_keys_not_extra_real_ones() -> None:
    # 33 real keys are run as 64 (ALIGN-rounded) with 31 masked ones: the result must ignore the 31
    q, k, v = _qkv(1, 33)
    got = padded_sdpa(q, k, v, None, scale=0.5)
    want = F.scaled_dot_product_attention(q, k, v, scale=0.5).transpose(1, 2)
    assert ALIGN == 32 and torch.allclose(got, want, atol=1e-5)


def test_bf16_stays_within_bf16_rounding_of_the_batched_call() -> None:
    lengths = [300, 262, 100]
    q, k, v = _qkv(3, 300, torch.bfloat16)
    mask = _prefix_mask(lengths, 300)
    got, want = padded_sdpa(q, k, v, mask, scale=None), _batched(q, k, v, mask)
    for row, n in enumerate(lengths):
        assert (got[row, :n].float() - want[row, :n].float()).abs().max().item() < 0.05


@pytest.mark.parametrize("mask", [
    torch.tensor([[True, False, True, True]])[:, None, None, :],  # a hole, not a prefix
    torch.tensor([[False, False, False, False]])[:, None, None, :],  # nothing to attend to
    torch.ones(1, 1, 4, 4, dtype=torch.bool),  # a full 4-D mask (custom pattern)
    torch.zeros(1, 1, 1, 4),  # an additive float mask
])
def test_masks_it_was_not_written_for_are_refused_and_go_to_sdpa(mask: torch.Tensor) -> None:
    q, k, v = _qkv(1, 4)
    assert padded_sdpa(q, k, v, mask, scale=None) is None
    module = torch.nn.Module().eval()
    got, _ = padded_sdpa_attention(module, q, k, v, mask)
    full = mask.expand(-1, -1, 4, -1) if mask.shape[-2] == 1 else mask
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=full).transpose(1, 2)
    assert torch.allclose(got, want, atol=1e-6, equal_nan=True)


def test_causal_modules_keep_sdpa() -> None:
    q, k, v = _qkv(1, 6)
    module = torch.nn.Module().eval()
    module.is_causal = True
    got, _ = padded_sdpa_attention(module, q, k, v, None)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
    assert torch.allclose(got, want, atol=1e-6)


def test_the_mask_function_passes_the_padding_mask_and_skips_a_full_one() -> None:
    padding = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    got = key_padding_mask(2, 4, 4, mask_function=bidirectional_mask_function, attention_mask=padding)
    assert got.shape == (2, 1, 1, 4) and got.dtype == torch.bool
    assert got[:, 0, 0].tolist() == [[True, True, True, False], [True, True, True, True]]
    assert key_padding_mask(2, 4, 4, mask_function=bidirectional_mask_function, attention_mask=torch.ones(2, 4)) is None


def test_other_mask_patterns_get_transformers_full_mask() -> None:
    def first_two(batch_idx: int, head_idx: int, q_idx: int, kv_idx: int) -> bool:
        return kv_idx < 2

    pattern = and_masks(bidirectional_mask_function, first_two)
    # the keywords transformers' create_bidirectional_mask passes with a custom pattern
    got = key_padding_mask(1, 4, 4, mask_function=pattern, attention_mask=torch.ones(1, 4, dtype=torch.long),
                           allow_is_causal_skip=False, allow_is_bidirectional_skip=False, use_vmap=True)
    assert got.shape == (1, 1, 4, 4)
    assert got[0, 0, 0].tolist() == [True, True, False, False]


def _tiny_bert(attn_implementation: str = "sdpa") -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    config._attn_implementation = attn_implementation
    return BertModel(config).eval()


def test_a_switched_bert_gives_the_same_hidden_states_on_real_tokens() -> None:
    ids = torch.randint(1, 64, (3, 45), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 40:] = 0
    mask[2, 7:] = 0
    plain, switched = _tiny_bert(), _tiny_bert()
    assert use_padded_sdpa(switched)
    assert switched.config._attn_implementation == ATTENTION_NAME
    with torch.inference_mode():
        want = plain(input_ids=ids, attention_mask=mask).last_hidden_state
        got = switched(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert torch.allclose(got[real], want[real], atol=1e-5)
    assert use_padded_sdpa(switched)  # switching again is harmless


def test_eager_models_are_left_alone() -> None:
    model = _tiny_bert("eager")
    assert not use_padded_sdpa(model)
    assert model.config._attn_implementation == "eager"
