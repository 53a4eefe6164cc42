"""oneDNN-fused layers for bf16 inference of BERT-family backbones on the CPU.

Why: in bf16 a matmul runs at ~4.5x its fp32 speed on a CPU with ``avx512_bf16``/AMX, so the work *around* the
matmuls starts to dominate. Profiling a bf16 MiniLM forward (32 texts x ~290 tokens, 2 threads) put ``aten::addmm``
at 34% of the time plus an ``aten::copy_`` of 15% (bf16 ``addmm`` first broadcasts the bias into its output), and
the separate GELU (10%) and residual adds (5%) each read and write whole activations once more. oneDNN can do all of
that inside the matmul's epilogue, and torch exposes it as ``torch.ops.mkldnn._linear_pointwise`` (the op
``torch.compile``'s freezing passes emit). This module swaps, in place:

* every ``nn.Linear`` of the backbone for :class:`FusedLinear` (bias in the epilogue, no copy);
* the up-projection + exact GELU of a ``*Intermediate`` block for one ``FusedLinear(activation="gelu")``;
* the down-projection + residual add of a ``*Output``/``*SelfOutput`` block for one fused ``binary add`` call
  (:class:`FusedResidualOutput`), so ``LayerNorm(dense(h) + x)`` reads ``dense(h) + x`` once.

Numerics are those of bf16 (the same products, rounded once at the end of the epilogue instead of after each op),
so the fused model is not bit-identical to the unfused bf16 one; ``precision="bf16"`` already states its tolerance
against fp32 (``benchmarks/precision_report.py``). Modules are only swapped where the structure is the known one (class-
name suffix, attribute names, exact GELU); anything else (ModernBERT's GLU, DeBERTa's disentangled attention
projections) keeps its ``nn.Linear`` semantics through :class:`FusedLinear` or is left alone. On tensors that
are not bf16 on the CPU, or on a CPU whose oneDNN has no bf16 kernel, every fused layer falls back to the plain
ops, so a fused model still runs anywhere.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from uniclass.backends.fused import FusedLinear
    >>> linear = nn.Linear(8, 4).to(torch.bfloat16)
    >>> x = torch.randn(2, 8, dtype=torch.bfloat16)
    >>> bool(torch.allclose(FusedLinear(linear)(x), linear(x)))
    True
"""

from __future__ import annotations

import functools
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FusedLinear", "FusedResidualOutput", "fuse_backbone", "fusion_available"]

_INTERMEDIATE_SUFFIX = "Intermediate"
_OUTPUT_SUFFIXES = ("SelfOutput", "Output")


@functools.cache
def fusion_available() -> bool:
    """Whether this torch build has the oneDNN fused-linear ops and this CPU runs them in bf16.

    Having the op is not enough: on a CPU without AVX-512 (AVX2 only) oneDNN has no bf16 inner-product kernel and
    the op raises "could not create a primitive descriptor". One tiny call tells, once per process.
    """
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    x, weight = torch.ones(2, 8, dtype=torch.bfloat16), torch.ones(4, 8, dtype=torch.bfloat16)
    try:
        torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")
        torch.ops.mkldnn._linear_pointwise.binary(x, torch.ones(2, 4, dtype=torch.bfloat16), weight, None, "add")
    except RuntimeError:
        return False
    return True


def _fast(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu" and x.dtype == torch.bfloat16 and weight.dtype == torch.bfloat16 and fusion_available()
    )


class FusedLinear(nn.Module):
    """``activation(x @ W.T + b)`` in one oneDNN call; shares the wrapped ``nn.Linear``'s parameters.

    Args:
        linear: the layer whose weight and bias are used (not copied).
        activation: ``"none"`` or ``"gelu"`` (exact, erf-based GELU, as BERT's ``hidden_act="gelu"``).
    """

    def __init__(self, linear: nn.Linear, activation: str = "none"):
        super().__init__()
        if activation not in ("none", "gelu"):
            raise ValueError(f"activation must be 'none' or 'gelu', got {activation!r}")
        self.weight = linear.weight
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fast(x, self.weight):
            out = F.linear(x, self.weight, self.bias)
            return F.gelu(out) if self.activation == "gelu" else out
        algorithm = "none" if self.activation == "gelu" else ""  # GELU's variant: exact (erf), not tanh
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, self.activation, [], algorithm)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class FusedResidualOutput(nn.Module):
    """BERT's ``LayerNorm(dropout(dense(h)) + x)`` at inference, with ``+ x`` fused into the matmul."""

    dense: nn.Linear
    LayerNorm: nn.LayerNorm  # noqa: N815 (the transformers attribute name, kept for state dicts)

    def __init__(self, block: nn.Module):
        super().__init__()
        # the types _is_residual_output checked before the block was fused
        self.dense = cast(nn.Linear, block.dense)
        self.LayerNorm = cast(nn.LayerNorm, block.LayerNorm)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        weight, bias = self.dense.weight, self.dense.bias
        if _fast(hidden_states, weight) and input_tensor.dtype == hidden_states.dtype:
            summed = torch.ops.mkldnn._linear_pointwise.binary(
                hidden_states, input_tensor.contiguous(), weight, bias, "add"
            )
        else:
            summed = F.linear(hidden_states, weight, bias) + input_tensor
        return self.LayerNorm(summed)


def _is_exact_gelu(act: object) -> bool:
    if isinstance(act, nn.GELU):
        return act.approximate == "none"
    # transformers' GELUActivation wraps F.gelu (exact) unless built with use_gelu_python; the name says which
    return type(act).__name__ == "GELUActivation" and getattr(act, "act", None) is F.gelu


def _is_residual_output(module: nn.Module) -> bool:
    name = type(module).__name__
    return (
        not isinstance(module, FusedResidualOutput)
        and name.endswith(_OUTPUT_SUFFIXES)
        and isinstance(getattr(module, "dense", None), nn.Linear)
        and isinstance(getattr(module, "LayerNorm", None), nn.LayerNorm)
        and isinstance(getattr(module, "dropout", nn.Identity()), (nn.Dropout, nn.Identity))
        and set(dict(module.named_children())) <= {"dense", "LayerNorm", "dropout"}
    )


def _is_gelu_intermediate(module: nn.Module) -> bool:
    return (
        type(module).__name__.endswith(_INTERMEDIATE_SUFFIX)
        and isinstance(getattr(module, "dense", None), nn.Linear)
        and _is_exact_gelu(getattr(module, "intermediate_act_fn", None))
    )


def fuse_backbone(backbone: nn.Module) -> dict[str, int]:
    """Swap the backbone's layers for their fused forms (in place, inference only); returns what was swapped.

    Call it on a module already in bf16 and in ``eval()`` mode: dropout is dropped from the fused blocks. Fusing a
    fused module again changes nothing.
    """
    counts = {"residual_outputs": 0, "gelu_intermediates": 0, "linears": 0}
    for parent in list(backbone.modules()):
        for child_name, child in list(parent.named_children()):
            if _is_residual_output(child):
                setattr(parent, child_name, FusedResidualOutput(child))
                counts["residual_outputs"] += 1
            elif _is_gelu_intermediate(child):
                child.dense = FusedLinear(cast(nn.Linear, child.dense), activation="gelu")  # checked just above
                child.intermediate_act_fn = nn.Identity()
                counts["gelu_intermediates"] += 1
    for parent in list(backbone.modules()):
        if isinstance(parent, FusedResidualOutput):
            continue  # its dense layer is called through the binary op
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, child_name, FusedLinear(child))
                counts["linears"] += 1
    return counts
