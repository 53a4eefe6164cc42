"""backends.fused: the oneDNN-fused bf16 layers compute what the plain layers compute, and swap only known shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from uniclass.backends import fused
from uniclass.backends.fused import FusedLinear, FusedResidualOutput, fuse_backbone

pytestmark = pytest.mark.skipif(not fused.fusion_available(), reason="oneDNN cannot run bf16 linears here (no mkldnn, or a CPU without AVX-512)")


def _tiny_bert(hidden_act: str = "gelu", layers: int = 2) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, hidden_act=hidden_act)
    return BertModel(config).eval()


def _inputs() -> dict[str, torch.Tensor]:
    ids = torch.randint(1, 64, (3, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padding in one row: the fused blocks must not care
    return {"input_ids": ids, "attention_mask": mask}


def _hidden(model: BertModel) -> torch.Tensor:
    with torch.inference_mode():
        return model(**_inputs()).last_hidden_state.float()


def test_fused_bert_matches_the_plain_bf16_model() -> None:
    plain = _tiny_bert().to(torch.bfloat16)
    fused_model = _tiny_bert().to(torch.bfloat16)
    counts = fuse_backbone(fused_model)
    # per layer: attention output and FFN output (residual blocks), one GELU up-projection, Q, K, V; plus the pooler
    assert counts == {"residual_outputs": 4, "gelu_intermediates": 2, "linears": 7}
    reference, got = _hidden(plain), _hidden(fused_model)
    assert got.shape == reference.shape
    # the same bf16 products rounded once instead of after each op: a few bf16 ulps of the O(1) activations
    assert (got - reference).abs().max().item() < 0.1
    assert torch.allclose(got.mean(), reference.mean(), atol=0.01)


def test_fusing_keeps_the_parameter_names() -> None:
    model = _tiny_bert().to(torch.bfloat16)
    before = set(model.state_dict())
    fuse_backbone(model)
    assert set(model.state_dict()) == before


def test_fusing_twice_changes_nothing() -> None:
    model = _tiny_bert().to(torch.bfloat16)
    fuse_backbone(model)
    once = _hidden(model)
    assert fuse_backbone(model) == {"residual_outputs": 0, "gelu_intermediates": 0, "linears": 0}
    assert torch.equal(_hidden(model), once)


def test_a_non_gelu_activation_is_left_to_its_own_module() -> None:
    model = _tiny_bert(hidden_act="relu").to(torch.bfloat16)
    counts = fuse_backbone(model)
    assert counts["gelu_intermediates"] == 0
    intermediate = model.encoder.layer[0].intermediate
    assert isinstance(intermediate.dense, FusedLinear) and intermediate.dense.activation == "none"
    assert not isinstance(intermediate.intermediate_act_fn, nn.Identity)  # relu still applied after the matmul


def test_fp32_inputs_fall_back_to_the_exact_plain_ops() -> None:
    model = _tiny_bert()
    reference = _hidden(model)
    fuse_backbone(model)  # float32 weights: every fused layer takes its fallback path
    assert isinstance(model.encoder.layer[0].output, FusedResidualOutput)
    assert torch.allclose(_hidden(model), reference, atol=1e-6)


@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_fused_linear_matches_linear_then_activation(activation: str) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(16, 24).to(torch.bfloat16)
    x = torch.randn(2, 5, 16, dtype=torch.bfloat16)
    expected = linear(x).float()
    if activation == "gelu":
        expected = nn.functional.gelu(expected)
    got = FusedLinear(linear, activation=activation)(x).float()
    assert got.shape == (2, 5, 24)
    assert (got - expected).abs().max().item() < 0.05


def test_fused_linear_refuses_an_unknown_activation() -> None:
    with pytest.raises(ValueError, match="activation"):
        FusedLinear(nn.Linear(2, 2), activation="tanh")

