"""LoRA on the encoder(s) through peft; merged back into plain weights for saving.

It only rewrites a ``GLiClassModel``, so it lives with the model: the classifier (``enable_lora``,
``save_pretrained``) and the exporters use it without importing ``training``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypeGuard, TypeVar

from torch import nn

from .backbone import BACKBONE_ATTRIBUTES as _BACKBONES

if TYPE_CHECKING:  # pragma: no cover
    from peft import PeftModel

M = TypeVar("M", bound=nn.Module)  # merging returns the model it was given (or its copy), same type


def enable_lora(
    model: nn.Module,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: str | list[str] = "all-linear",
) -> None:
    """Wrap every backbone of ``model`` (a GLiClassModel) in LoRA adapters; the head stays fully trainable."""
    from peft import LoraConfig, get_peft_model

    inner = model.model
    for name in _BACKBONES:
        backbone = getattr(inner, name, None)
        if backbone is None or is_lora(backbone):
            continue
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
        setattr(inner, name, get_peft_model(backbone, config))


def is_lora(module: nn.Module) -> TypeGuard[PeftModel]:
    from peft import PeftModel

    return isinstance(module, PeftModel)


def has_lora(model: nn.Module) -> bool:
    return any(
        is_lora(getattr(model.model, name)) for name in _BACKBONES if getattr(model.model, name, None) is not None
    )


def merge_lora(model: M) -> M:
    """Merge adapters into the backbone weights in place (official weight names again)."""
    for name in _BACKBONES:
        backbone = getattr(model.model, name, None)
        if backbone is not None and is_lora(backbone):
            setattr(model.model, name, backbone.merge_and_unload())
    for param in model.parameters():
        param.requires_grad_(True)
    return model


def merged_copy(model: M) -> M:
    """A merged copy, leaving the adapters of ``model`` in place (to save mid-training)."""
    return merge_lora(copy.deepcopy(model))
