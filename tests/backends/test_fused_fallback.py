"""backends.fused on a CPU whose oneDNN has no bf16 inner product (AVX2 only): the plain ops, no crash."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from uniclass.backends import fused
from uniclass.backends.fused import FusedLinear


def test_a_cpu_whose_onednn_cannot_run_bf16_gets_the_plain_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    """On an AVX2-only CPU the fused op raises; the probe says so and FusedLinear computes with F.linear."""

    def refuse(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("could not create a primitive descriptor for the inner product forward propagation")

    class _Ops:
        _linear_pointwise = staticmethod(refuse)

    fused.fusion_available.cache_clear()
    monkeypatch.setattr(torch.ops, "mkldnn", _Ops(), raising=False)
    try:
        assert not fused.fusion_available()
        linear = nn.Linear(8, 4).to(torch.bfloat16)
        x = torch.randn(2, 8, dtype=torch.bfloat16)
        assert torch.equal(FusedLinear(linear, activation="gelu")(x), torch.nn.functional.gelu(linear(x)))
    finally:
        fused.fusion_available.cache_clear()
