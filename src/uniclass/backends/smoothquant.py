"""SmoothQuant (Xiao et al. 2023) for the ``int8`` recipe: move activation outliers into the weights.

Why: dynamic int8 quantizes each ``Linear`` input with one scale per tensor, so a few outlier channels (BERT's
LayerNorm outputs have channels 10-50x larger than the rest) set the scale and round every other channel to a few
levels. SmoothQuant divides input channel ``j`` by ``s_j = max|X_j|^a / max|W_j|^(1-a)`` and multiplies the
weights' column ``j`` by ``s_j``: the product is unchanged in exact arithmetic, the activations become flat enough
for a per-tensor scale, and the weights (quantized per output channel) absorb the range.

Where the division goes: the paper folds ``1/s`` into the preceding LayerNorm, which is exact only in pre-LN
transformers. BERT is post-LN: each LayerNorm output is also the residual stream of the next block, so folding there
would change the residual. Here ``1/s`` is folded where that is exact and free (the attention output projection: its
input ``softmax(QK^T) V`` is linear in V's output channels, so ``1/s`` goes into V's rows and bias) and is otherwise
an explicit per-channel multiply on the ``Linear``'s input (:class:`SmoothedLinear`, one elementwise pass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "CALIBRATION_LABELS",
    "CALIBRATION_TEXTS",
    "FullRangeDynamicLinear",
    "SmoothedLinear",
    "calibrate",
    "full_range_activations",
    "smooth_bert",
    "smoothing_scales",
]

_EPS = 1e-5
_ATTENTION_OUTPUT = ".attention.output.dense"
_VALUE = ".attention.self.value"


def calibrate(
    model: nn.Module, run: Callable[[], object], names: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Per input channel, the largest |activation| each ``Linear`` of ``model`` sees while ``run()`` executes.

    Args:
        model: the float32 model (hooks are added, then removed).
        run: runs the model on calibration inputs (e.g. ``lambda: clf.scores(texts, labels)``).
        names: the ``Linear`` layers to record (default: every ``Linear`` of ``model``).
    """
    wanted = set(names) if names is not None else None
    maxima: dict[str, torch.Tensor] = {}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            current = x.reshape(-1, x.shape[-1]).abs().amax(0).float()
            maxima[name] = current if name not in maxima else torch.maximum(maxima[name], current)

        return hook

    handles = [
        module.register_forward_pre_hook(record(name))
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and (wanted is None or name in wanted)
    ]
    try:
        with torch.inference_mode():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return maxima


def smoothing_scales(activation_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """``s_j = max|X_j|^alpha / max|W_j|^(1-alpha)`` per input channel ``j`` of ``weight`` (out x in)."""
    weight_max = weight.detach().abs().amax(0).float().clamp(min=_EPS)
    return (activation_max.float().clamp(min=_EPS).pow(alpha) / weight_max.pow(1 - alpha)).clamp(min=_EPS)


class SmoothedLinear(nn.Module):
    """``linear(x * inverse_scale)``, ``linear``'s columns already multiplied by the scale: the original in fp32."""

    inverse_scale: torch.Tensor  # a buffer, declared for type checkers (nn.Module.__getattr__ is untyped)

    def __init__(self, linear: nn.Module, inverse_scale: torch.Tensor) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("inverse_scale", inverse_scale.to(torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.inverse_scale)


def smooth_input(model: nn.Module, name: str, activation_max: torch.Tensor, alpha: float) -> str:
    """Smooth ``Linear`` ``name`` with an input multiply; returns the inner ``Linear``'s new name."""
    linear = model.get_submodule(name)
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"smooth_input: {name!r} is a {type(linear).__name__}, not a Linear layer")
    scales = smoothing_scales(activation_max, linear.weight, alpha)
    with torch.no_grad():
        linear.weight.mul_(scales.to(linear.weight.dtype))
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, SmoothedLinear(linear, 1.0 / scales))
    return f"{name}.linear"


def fold_into_value(
    model: nn.Module, value: nn.Linear, output: nn.Linear, activation_max: torch.Tensor, alpha: float
) -> None:
    """Smooth the attention output projection for free: ``1/s`` into V's rows and bias, ``s`` into ``output``'s
    columns (exact: attention mixes tokens, never channels, so channel ``j`` of its output is V's channel ``j``)."""
    scales = smoothing_scales(activation_max, output.weight, alpha)
    with torch.no_grad():
        value.weight.div_(scales[:, None])
        if value.bias is not None:
            value.bias.div_(scales)
        output.weight.mul_(scales)


def smooth_bert(
    model: nn.Module,
    activation_maxima: dict[str, torch.Tensor],
    alpha: float = 0.5,
    names: Iterable[str] | None = None,
    fold_value: bool = True,
) -> list[str]:
    """SmoothQuant the ``Linear`` layers ``names`` of a BERT-style ``model`` in place (default: every layer with a
    recorded maximum, see :func:`calibrate`).

    A BERT attention output projection (``<layer>.attention.output.dense`` next to ``<layer>.attention.self.value``)
    is smoothed by folding into V (``fold_value``); every other layer gets an input multiply (:class:`SmoothedLinear`).
    Returns the names of the smoothed ``Linear`` modules afterwards (``<name>.linear`` where wrapped), e.g. for
    ``quantize_dynamic``.
    """
    chosen = list(activation_maxima if names is None else names)
    modules = dict(model.named_modules())
    result: list[str] = []
    for name in chosen:  # folds first: they change V's weights, which a later input multiply must not have seen
        value = name[: -len(_ATTENTION_OUTPUT)] + _VALUE if name.endswith(_ATTENTION_OUTPUT) else None
        if fold_value and value in modules and isinstance(modules[value], nn.Linear):
            fold_into_value(model, modules[value], modules[name], activation_maxima[name], alpha)
            result.append(name)
    for name in chosen:
        if name not in result:
            result.append(smooth_input(model, name, activation_maxima[name], alpha))
    return result


# Generic calibration inputs (no evaluation data): short and long texts of several registers, with labels of the
# kinds users pass (topics, sentiment, intents, phrases). Only per-channel maxima are taken from them, and the
# outlier channels of a pretrained backbone are a property of its weights, so a few dozen windows suffice.
CALIBRATION_TEXTS = (
    "The central bank raised interest rates by half a point on Tuesday, citing persistent inflation in services.",
    "I loved this movie! The acting was superb, although the ending dragged on a little too long.",
    "Terrible customer service. I waited forty minutes on hold and then the call was dropped.",
    "Preheat the oven to 200 degrees, then roast the vegetables with olive oil, garlic and thyme for 35 minutes.",
    "The striker scored twice in the second half as the home side came back to win the cup final 3-2.",
    "A compiler translates source code written in a high-level language into machine code for a target processor.",
    "Can you book me a table for two at an Italian restaurant near the station tomorrow at eight?",
    "The patient presented with a persistent cough, mild fever and shortness of breath for five days.",
    "Parliament passed the bill after a long debate, but the opposition vowed to challenge it in court.",
    "Heraldry: the art of devising, granting and blazoning coats of arms, and of tracing genealogies.",
    "New smartphone review: great battery life and a bright screen, but the camera struggles in low light.",
    "Scientists discovered a new species of frog in the rainforest, with skin that glows under ultraviolet light.",
    "My flight was cancelled and the airline refuses to refund the ticket. What are my rights?",
    "The quarterly report shows revenue up 12 percent year on year, driven by strong growth in cloud services.",
    "She walked along the empty beach at dawn, listening to the waves and thinking about the letter.",
    "Reset your password by clicking the link in the email; the link expires after 24 hours.",
)
CALIBRATION_LABELS = (
    "business",
    "sports",
    "politics",
    "technology",
    "health",
    "entertainment",
    "science",
    "travel",
    "positive",
    "negative",
    "question about a refund",
    "food and cooking",
)


def full_range_activations(model: nn.Module) -> int:
    """Let every dynamic int8 ``Linear`` of ``model`` quantize its input to 8 bits instead of 7 (in place).

    torch's dynamic ``Linear`` always asks fbgemm for ``reduce_range`` (7-bit activations), because without VNNI its
    u8 x s8 products are summed pairwise in saturating int16. With VNNI (int32 accumulation) the 8th bit is free and
    halves the activation rounding error. Returns how many layers were switched.
    """
    count = 0
    for module in model.modules():
        if type(module) is FullRangeDynamicLinear.__base__:
            module.__class__ = FullRangeDynamicLinear
            count += 1
    return count


def _full_range_class() -> type:
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    class FullRangeDynamicLinear(DynamicLinear):
        """torch's dynamic int8 ``Linear`` with 8-bit activations (``reduce_range=False``); see above."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self._packed_params.dtype != torch.qint8:
                return super().forward(x)
            y = torch.ops.quantized.linear_dynamic(x, self._packed_params._packed_params, reduce_range=False)
            return y.to(x.dtype)

        def _get_name(self) -> str:
            return "DynamicQuantizedLinear(8-bit activations)"

    return FullRangeDynamicLinear


FullRangeDynamicLinear = _full_range_class()
