"""Several LoRA adapters on one model, chosen per text, in one batched forward pass.

An adapter is a PEFT LoRA folder (``adapter_config.json`` + ``adapter_model.safetensors``) over the text encoder:
what ``peft.PeftModel.save_pretrained`` writes for the backbone, ``Classifier.save_adapter`` writes after LoRA
training, and the official package's PolyLoRA server loads. Loading one replaces each Linear layer it targets by a
``MultiLoraLinear`` holding every loaded adapter's matrices stacked ``[slots, ...]`` (slot 0: none, all zeros).
A batch carries one slot per row; each wrapped layer adds ``(x A_row^T) B_row^T`` (scale folded into B) to the
base layer's output with two batched matmuls, whatever mix of adapters the rows use. Rows without an adapter add
exact zeros, and a call without adapters skips the delta entirely, so the base model's scores do not change.

Why our own layer rather than peft or polylora (measured in ``benchmarks/adapters_throughput.py``): peft's mixed
batches (``adapter_names=``) loop over the adapters in each layer, and polylora (the official server's runtime)
needs triton as a dependency and on CPU loops over the rows of the batch in Python.

Only LoRA weights on Linear layers of the text encoder are accepted (no DoRA, bias or ``modules_to_save``): a
head or embedding trained alongside would make a row's result depend on more than its encoder pass.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")  # the official server's adapter-id pattern
BASE_ADAPTER = "__base__"  # the official server's reserved id for "no adapter" (a row of the base model)
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


@dataclass
class LoraAdapter:
    """One adapter's matrices per target module: ``A`` ``[r, in]`` and ``B`` ``[out, r]`` with the scale folded in."""

    name: str
    path: str
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]

    @property
    def rank(self) -> int:
        return max(a.shape[0] for a, _ in self.weights.values())

    @property
    def nbytes(self) -> int:
        return sum(a.numel() * a.element_size() + b.numel() * b.element_size() for a, b in self.weights.values())


def read_peft_adapter(path: str | Path, name: str) -> LoraAdapter:
    """Read a PEFT LoRA adapter folder; one-line errors for what cannot be served exactly.

    Example:
        >>> read_peft_adapter("adapters/legal", "legal").rank  # doctest: +SKIP
        8
    """
    check_adapter_name(name)
    folder = Path(path)
    config_file = folder / ADAPTER_CONFIG
    if not config_file.is_file():
        raise FileNotFoundError(f"{folder}: no {ADAPTER_CONFIG} (a PEFT LoRA adapter folder is expected)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_file}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_file}: expected a JSON object")
    _check_config(config, config_file)
    weights_file = folder / ADAPTER_WEIGHTS
    if not weights_file.is_file():
        pickled = (
            " (adapter_model.bin is a pickle and is not loaded: re-save it with safetensors)"
            if (folder / "adapter_model.bin").is_file()
            else ""
        )
        raise FileNotFoundError(f"{folder}: no {ADAPTER_WEIGHTS}{pickled}")
    from safetensors.torch import load_file

    state = load_file(str(weights_file))
    return LoraAdapter(name, str(folder), _pair_matrices(state, config, weights_file))


def check_adapter_name(name: Any) -> str:
    if not isinstance(name, str) or not ADAPTER_NAME.fullmatch(name):
        raise ValueError(f"adapter name must be 1-128 letters, digits, '.', '_' or '-', got {name!r}")
    if name == BASE_ADAPTER:
        raise ValueError(f"{BASE_ADAPTER!r} is reserved for the base model (as in the official server)")
    return name


def _check_config(config: dict[str, Any], where: Path) -> None:
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise ValueError(f"{where}: peft_type {config.get('peft_type')!r}; only LoRA adapters can be served")
    if config.get("use_dora"):
        raise ValueError(f"{where}: DoRA adapters are not supported (their scale depends on the merged weight)")
    if config.get("bias", "none") != "none":
        raise ValueError(f"{where}: bias={config.get('bias')!r}; only bias='none' adapters can be served")
    if config.get("modules_to_save"):
        raise ValueError(
            f"{where}: modules_to_save {config['modules_to_save']} would replace whole modules per "
            "adapter; only LoRA matrices on the encoder's Linear layers can be served"
        )
    if config.get("alpha_pattern"):
        raise ValueError(f"{where}: alpha_pattern is not supported (one lora_alpha for every module)")
    alpha = config.get("lora_alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"{where}: lora_alpha must be a positive number, got {alpha!r}")


def _pair_matrices(
    state: dict[str, torch.Tensor], config: dict[str, Any], where: Path
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        match = _KEY.match(key)
        if match is None:
            raise ValueError(
                f"{where}: weight {key!r} is not a LoRA matrix (lora_A / lora_B); only LoRA adapters "
                "on the encoder's Linear layers can be served"
            )
        parts.setdefault(match["module"], {})[match["part"]] = tensor.float()
    weights = {}
    for module, pair in parts.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(f"{where}: {module} has lora_{next(iter(pair))} but not its pair")
        a, b = pair["A"], pair["B"]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(f"{where}: {module}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not pair")
        rank = a.shape[0]
        # peft: scaling = alpha / r (rank_pattern changes r per module, hence the shape), or alpha / sqrt(r)
        scale = config["lora_alpha"] / (math.sqrt(rank) if config.get("use_rslora") else rank)
        weights[module] = (a.contiguous(), (b * scale).contiguous())
    if not weights:
        raise ValueError(f"{where}: the adapter has no LoRA weights")
    return weights


class AdapterRouter:
    """Which adapter slot each row of the current batch uses; shared by every ``MultiLoraLinear`` of a model.

    ``rows`` is set by the torch backend around one forward pass (the model runs on one thread at a time).
    """

    def __init__(self) -> None:
        self.rows: torch.Tensor | None = None


class MultiLoraLinear(nn.Module):
    """A Linear layer plus, per batch row, the LoRA delta of that row's adapter (two batched matmuls)."""

    # typed here because nn.Module attribute lookups are otherwise ``Tensor | Module``
    base: nn.Linear
    weight: torch.Tensor
    in_features: int
    out_features: int
    A: torch.Tensor  # [slots, r_max, in]; slot 0: no adapter
    B: torch.Tensor  # [slots, out, r_max]

    def __init__(self, base: nn.Linear, router: AdapterRouter):
        super().__init__()
        # The base layer is kept off the module tree and its parameters registered here under their own names, so
        # the state dict (save_pretrained, exporters) keeps the official names: "...query.weight", not "...base.weight".
        object.__setattr__(self, "base", base)
        self.weight = base.weight
        self.register_parameter("bias", getattr(base, "bias", None))
        self.router = router
        self.in_features, self.out_features = base.in_features, base.out_features
        self.register_buffer("A", torch.zeros(1, 1, self.in_features), persistent=False)  # [slots, r_max, in]; 0: none
        self.register_buffer("B", torch.zeros(1, self.out_features, 1), persistent=False)  # [slots, out, r_max]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        rows = self.router.rows
        if rows is None:
            return out
        flat = x.dim() == 2
        if flat and x.shape[0] % rows.shape[0]:
            # an unpadded (varlen) layout packs the rows' tokens together: which token is whose is not known here
            raise RuntimeError("LoRA adapters need padded batches; this backbone ran unpadded (flash-attention varlen)")
        x3 = x.reshape(rows.shape[0], -1, x.shape[-1]) if flat else x
        a = self.A[rows].to(x.dtype)  # [batch, r, in]
        b = self.B[rows].to(x.dtype)  # [batch, out, r]
        delta = torch.bmm(torch.bmm(x3, a.transpose(1, 2)), b.transpose(1, 2))
        return out + (delta.reshape(out.shape) if flat else delta)

    def set_slots(self, matrices: list[tuple[torch.Tensor, torch.Tensor] | None]) -> None:
        """Stack one ``(A, B)`` per slot (None: this adapter does not touch this layer), zero-padded to the max rank."""
        r_max = max([a.shape[0] for pair in matrices if pair is not None for a in pair[:1]] + [1])
        device = self.weight.device
        A = torch.zeros(len(matrices) + 1, r_max, self.in_features, device=device)
        B = torch.zeros(len(matrices) + 1, self.out_features, r_max, device=device)
        for slot, pair in enumerate(matrices, start=1):
            if pair is not None:
                a, b = pair
                A[slot, : a.shape[0]] = a.to(device)
                B[slot, :, : b.shape[1]] = b.to(device)
        self.A, self.B = A, B


@dataclass
class AdapterSet:
    """The adapters loaded on one model and the wrapped layers of its text encoder.

    Slots are numbered from 1 in load order (0: no adapter); removing an adapter renumbers the later ones.
    """

    encoder: nn.Module
    router: AdapterRouter = field(default_factory=AdapterRouter)
    adapters: dict[str, LoraAdapter] = field(default_factory=dict)
    layers: dict[str, MultiLoraLinear] = field(default_factory=dict)

    def slot(self, name: str | None) -> int:
        if name is None or name == BASE_ADAPTER:
            return 0
        try:
            return list(self.adapters).index(name) + 1
        except ValueError:
            known = ", ".join(sorted(self.adapters)) or "none loaded"
            raise ValueError(
                f"unknown adapter {name!r} (loaded: {known}); load it with clf.load_adapter(path, name=...)"
            ) from None

    def add(self, adapter: LoraAdapter) -> None:
        modules = dict(self.encoder.named_modules())
        for module in adapter.weights:
            target = modules.get(module)
            if target is None and module.startswith("model."):  # saved from a wrapper with one more level
                target = modules.get(module.removeprefix("model."))
            if target is None or (
                not isinstance(target, (nn.Linear, MultiLoraLinear)) and not hasattr(target, "in_features")
            ):
                raise ValueError(
                    f"adapter {adapter.name!r}: {module} is not a Linear layer of this model's text "
                    "encoder (was the adapter trained on another backbone?)"
                )
            a, b = adapter.weights[module]
            if a.shape[1] != target.in_features or b.shape[0] != target.out_features:
                raise ValueError(
                    f"adapter {adapter.name!r}: {module} is {target.in_features}->{target.out_features} "
                    f"here but the adapter's matrices are {a.shape[1]}->{b.shape[0]}"
                )
        renamed = {self._module_name(modules, m): pair for m, pair in adapter.weights.items()}
        adapter.weights = renamed
        self.adapters[adapter.name] = adapter
        for module in renamed:
            if module not in self.layers:
                self._wrap(module)
        self.restack()

    def remove(self, name: str) -> None:
        self.slot(name)  # the usual error for an unknown name
        del self.adapters[name]
        self.restack()

    def restack(self) -> None:
        for module, layer in self.layers.items():
            layer.set_slots([adapter.weights.get(module) for adapter in self.adapters.values()])

    @property
    def nbytes(self) -> int:
        return sum(adapter.nbytes for adapter in self.adapters.values())

    @staticmethod
    def _module_name(modules: dict[str, nn.Module], module: str) -> str:
        return module if module in modules else module.removeprefix("model.")

    def _wrap(self, module: str) -> None:
        parent_name, _, child = module.rpartition(".")
        parent = self.encoder.get_submodule(parent_name) if parent_name else self.encoder
        layer = MultiLoraLinear(getattr(parent, child), self.router)
        setattr(parent, child, layer)
        self.layers[module] = layer


def text_encoder(model: nn.Module) -> nn.Module:
    """The backbone adapters apply to: the text encoder (as the official PolyLoRA server wraps it)."""
    inner = model.model
    for name in ("encoder_model", "encoder_decoder_model"):
        encoder = getattr(inner, name, None)
        if encoder is not None:
            return encoder
    architecture = getattr(getattr(model, "config", None), "architecture_type", None)
    raise ValueError(f"adapters are not supported for architecture {architecture!r}")
