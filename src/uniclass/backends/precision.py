"""Inference precision for the torch backend: ``fp32`` (exact), ``bf16``, ``int8`` and, on GPUs, ``fp16``.

Why a precision and not just a dtype: a fast mode is a recipe, not one cast. ``bf16``/``fp16`` store the
pretrained backbone(s) in the low dtype (attention stays on the backbone's SDPA path) while the small GLiClass
head (pooling, projectors, normalisation, scorer) stays in float32: it costs well under 1% of the FLOPs and keeps
the logits of nearly tied labels from being rounded to 8 mantissa bits. ``int8`` is torch dynamic quantization
(per-channel int8 weights, VNNI kernels through fbgemm/oneDNN) of the backbone's ``Linear`` layers, with the
sensitive ones left in float32: embeddings, the pooler, projectors and scorer, and every down-projection (a
``Linear`` with more inputs than outputs, e.g. BERT's FFN ``output.dense``), whose GELU inputs have outliers that
per-tensor dynamic activation scales clip (quantizing them took the max |Δscore| from 0.06 to 0.26 on the
bundled model; keeping the last layer in float32 changed nothing measurable, so ``keep_last_layers`` is 0).
Plain dynamic int8 kept only 91.5-98% of fp32's argmax decisions, so the ``int8`` that ``from_pretrained`` loads
adds two things (``benchmarks/int8_variants.py``): SmoothQuant (``backends.smoothquant``, calibrated
at load time on a few built-in texts run through the classifier: per-channel activation maxima, ``SMOOTH_ALPHA``)
and, on CPUs with VNNI, 8-bit instead of 7-bit activations.

The hardware check refuses what would crawl (fp16 on a CPU without native fp16 runs about 100x slower than fp32,
and is no faster than fp32 with it)
and warns where bf16 is emulated. ``precision="auto"`` picks the fast mode the hardware runs natively.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "PRECISIONS",
    "apply_precision",
    "calibrated_int8",
    "cpu_flags",
    "cpu_native",
    "fuse_for_cpu",
    "precision_dtype",
    "resolve_precision",
]

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "qint8": "int8"}
# CPU fp16 is never a fast mode in torch: 1.1 GFLOP/s against 196 in fp32 on a CPU without native fp16, and no
# faster than fp32 on a Xeon with avx512_fp16 (512x512 matmuls, 2 threads: 16.8 vs 18.4 GFLOP/s,
# bf16 81.4), so it is always refused on the CPU, whatever the flags.
_CPU_NATIVE = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ()}
# Official names of the pretrained backbones inside a family network (mirrors modeling.backbone).
_BACKBONES = ("encoder_model", "label_encoder", "encoder_decoder_model")
# SmoothQuant's migration strength for int8 (benchmarks/int8_variants.py: with 8-bit activations
# 0.5-0.7 keep 97-100% of the argmax decisions on 100 texts per dev set, 0.6 the most, with the smallest drift).
SMOOTH_ALPHA = 0.6
_VNNI = ("avx512_vnni", "avx_vnni", "amx_int8")
_LAYER_INDEX = re.compile(r"\.(?:layer|layers|block)\.(\d+)\.")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (Linux); empty where the file does not exist."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return frozenset()
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_native(precision: str, flags: frozenset[str] | None = None) -> bool | None:
    """Whether this CPU runs ``precision`` matmuls natively: True/False, or None when the flags are unknown."""
    flags = cpu_flags() if flags is None else flags
    if precision in ("fp32", "int8"):
        return True
    if not flags:
        return None
    return any(flag in flags for flag in _CPU_NATIVE[precision])


def vnni(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU has VNNI int8 dot products (fbgemm then sums u8 x s8 in int32: no saturation)."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in _VNNI)


def normalize_precision(precision: str | None) -> str | None:
    """``None`` stays None; aliases (``"bfloat16"``, ``"float16"``) map to the short names; others raise."""
    if precision is None:
        return None
    name = _ALIASES.get(str(precision).lower(), str(precision).lower())
    if name not in (*PRECISIONS, "auto"):
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} or 'auto', got {precision!r}")
    return name


def resolve_precision(precision: str | None, device: Any) -> str:
    """The precision to run on ``device`` (a ``torch.device``): checked against the hardware.

    Raises ``ValueError`` for a choice the device cannot run at useful speed (fp16 on a CPU without native
    fp16, int8 off the CPU, bf16 on a GPU without bf16) and warns where bf16 is emulated on a CPU.
    """
    name = normalize_precision(precision) or "fp32"
    kind = getattr(device, "type", str(device))
    if name == "auto":
        return _auto(kind)
    if name == "fp32":
        return name
    if kind == "cuda":
        return _check_cuda(name)
    if kind == "cpu":
        return _check_cpu(name)
    if name == "int8":
        raise ValueError(f"precision='int8' (torch dynamic quantization) runs on the CPU only, not on {kind}")
    return name  # mps and others: fp16/bf16 are the device's business


def _auto(kind: str) -> str:
    if kind == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if kind == "cpu":
        return "bf16" if cpu_native("bf16") else "fp32"
    return "fp32"


def _check_cuda(name: str) -> str:
    import torch

    if name == "int8":
        raise ValueError(
            "precision='int8' (torch dynamic quantization) runs on the CPU only; use 'fp16' or 'bf16' on CUDA"
        )
    if name == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no native bf16 (needs compute capability >= 8.0): use precision='fp16'")
    return name


def _check_cpu(name: str) -> str:
    native = cpu_native(name)
    if name == "fp16":
        raise ValueError(
            "precision='fp16' is not a fast mode on the CPU: torch's CPU fp16 matmul runs about 100x slower than fp32 "
            "without native fp16, and no faster than fp32 with avx512_fp16; use precision='bf16' on the CPU (fp16 "
            "is for GPUs)"
        )
    if name == "bf16" and native is False:
        warnings.warn(
            "precision='bf16': this CPU has no avx512_bf16/amx_bf16, so bf16 matmuls are emulated and may be "
            "slower than fp32; precision='int8' is the fast CPU mode here",
            stacklevel=3,
        )
    return name


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype the backbone weights are stored in for ``precision`` (int8: float32 outside the int8 layers)."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[precision]


def apply_precision(
    model: nn.Module,
    precision: str,
    *,
    keep_head_fp32: bool = True,
    keep_last_layers: int = 0,
    keep_down_projections: bool = True,
    fuse: bool = True,
    smooth: dict[str, torch.Tensor] | None = None,
    alpha: float = SMOOTH_ALPHA,
    full_range: bool | None = None,
) -> nn.Module:
    """Turn a float32 ``GLiClassModel`` into its ``precision`` form (in place; returns the model).

    Args:
        keep_head_fp32: bf16/fp16: only the backbones go to the low dtype (False: the whole model, for measuring).
        keep_last_layers: int8: how many of the last transformer layers stay float32 (0: quantize them all).
        keep_down_projections: int8: leave the ``Linear`` layers with in_features > out_features in float32.
        fuse: bf16 on the CPU: swap the backbones' layers for oneDNN-fused ones (``backends.fused``: bias, GELU and
            residual add inside the matmul), 1.2-1.3x the unfused bf16 forward idle
            (``benchmarks/precision_report.py``).
        smooth: int8: per-channel input maxima of the layers (``backends.smoothquant.calibrate``); the layers that
            have one are SmoothQuant-ed with ``alpha`` before quantizing (None: plain dynamic int8).
        full_range: int8: quantize activations to 8 bits (fbgemm's default is 7, ``reduce_range``, because
            without VNNI its u8 x s8 products are summed in saturating int16); None: 8 bits where the CPU has VNNI.
    """
    if precision == "fp32":
        return model
    if precision in ("bf16", "fp16"):
        _cast_low(model, precision_dtype(precision), keep_head_fp32)
        if fuse and precision == "bf16":
            fuse_for_cpu(model)
        return model
    if precision == "int8":
        names = int8_layer_names(model, keep_last_layers, keep_down_projections)
        if smooth:
            from .smoothquant import smooth_bert

            smoothed = [name for name in names if name in smooth]
            names = [name for name in names if name not in smooth] + smooth_bert(model, smooth, alpha, smoothed)
        _quantize_int8(model, names)
        if full_range if full_range is not None else vnni():
            from .smoothquant import full_range_activations

            full_range_activations(model)
        return model
    raise ValueError(f"unknown precision {precision!r}")


def calibrated_int8(model: nn.Module, run: Any, alpha: float = SMOOTH_ALPHA, **options: Any) -> nn.Module:
    """The ``int8`` recipe with SmoothQuant: record the int8 layers' input maxima while ``run()`` runs the float32
    model on calibration inputs (in the classifier's input format), then smooth and quantize (in place)."""
    from .smoothquant import calibrate

    maxima = calibrate(model, run, int8_layer_names(model))
    return apply_precision(model, "int8", smooth=maxima, alpha=alpha, **options)


def fuse_for_cpu(model: nn.Module) -> dict[str, int]:
    """bf16 backbones on the CPU: fuse their layers (``backends.fused``) and run their attention per sequence on
    32-aligned lengths (``backends.cpu_attention``); a no-op elsewhere. Returns what was swapped."""
    from .cpu_attention import use_padded_sdpa
    from .fused import fuse_backbone, fusion_available

    totals: dict[str, int] = {}
    for _, backbone in backbones(model) or [("", model)]:
        first = next(backbone.parameters(), None)
        if first is None or first.device.type != "cpu":
            continue
        if fusion_available():
            for key, count in fuse_backbone(backbone).items():
                totals[key] = totals.get(key, 0) + count
        totals["padded_attention"] = totals.get("padded_attention", 0) + int(use_padded_sdpa(backbone))
    return totals


def backbones(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The pretrained backbone modules of a ``GLiClassModel`` (``model.model.<name>``) with their paths."""
    inner = getattr(model, "model", model)
    return [(f"model.{name}", getattr(inner, name)) for name in _BACKBONES if getattr(inner, name, None) is not None]


def _cast_low(model: nn.Module, dtype: torch.dtype, keep_head_fp32: bool) -> nn.Module:
    if not keep_head_fp32:
        return model.to(dtype)
    for _, backbone in backbones(model):
        backbone.to(dtype)
        # float inputs (inputs_embeds, float masks) in, float32 hidden states out: one cast each way per call
        backbone.register_forward_pre_hook(functools.partial(_cast_inputs, dtype=dtype), with_kwargs=True)
        backbone.register_forward_hook(_outputs_to_fp32)
    return model


def _cast_inputs(module: nn.Module, args: tuple, kwargs: dict, *, dtype: torch.dtype) -> tuple[tuple, dict]:
    return tuple(_to(a, dtype) for a in args), {k: _to(v, dtype) for k, v in kwargs.items()}


def _outputs_to_fp32(module: nn.Module, args: tuple, output: Any) -> Any:
    import torch

    return _to(output, torch.float32)


def _to(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors (also inside tuples and transformers ``ModelOutput``s) to ``dtype``; others unchanged."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() and value.dtype != dtype else value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_to(v, dtype) for v in value)
    if isinstance(value, dict) and hasattr(value, "to_tuple"):  # a transformers ModelOutput
        for key in list(value.keys()):
            value[key] = _to(value[key], dtype)
        return value
    return value


def int8_layer_names(model: nn.Module, keep_last_layers: int = 0, keep_down_projections: bool = True) -> list[str]:
    """The ``Linear`` layers ``int8`` quantizes: inside the transformer layers of the backbones, minus the last
    ``keep_last_layers`` of each and (``keep_down_projections``) the down-projections; the poolers and the head
    (projectors, scorer) are never quantized."""
    from torch import nn

    names: list[str] = []
    for prefix, backbone in backbones(model):
        linears = [(f"{prefix}.{n}", m) for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
        indices = [int(m.group(1)) for n, _ in linears if (m := _LAYER_INDEX.search(n))]
        last = max(indices, default=-1)
        for name, linear in linears:
            found = _LAYER_INDEX.search(name)
            if found is None or "pooler" in name:
                continue  # poolers, heads and anything outside the layer stack stay float32
            if keep_down_projections and linear.in_features > linear.out_features:
                continue
            if keep_last_layers and int(found.group(1)) > last - keep_last_layers:
                continue
            names.append(name)
    return names


def _quantize_int8(model: nn.Module, names: list[str]) -> nn.Module:
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"  # fbgemm (VNNI) for dynamic Linear
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice in favour of torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, dict.fromkeys(names, per_channel_dynamic_qconfig), dtype=torch.qint8, inplace=True
        )
