"""GLiClassModel: builds the architecture family named by the config and owns the official weight layout.

The official ``GLiClassModel`` stores its inner network at ``self.model``, so every weight of a checkpoint is
named ``model.<...>``; this class keeps that layout, so ``model.safetensors`` files load and save unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import WEIGHTS_FILE, GLiClassConfig
from .backbone import BACKBONE_ATTRIBUTES, skip_init
from .bi_encoder import BiEncoder
from .calibrator import LearnedCalibrator, build_calibrator
from .encoder_decoder import EncoderDecoder
from .uni_encoder import UniEncoder

__all__ = ["WEIGHTS_FILE", "GLiClassModel"]
_FAMILIES: dict[str, type[UniEncoder | BiEncoder | EncoderDecoder]] = {
    "uni-encoder": UniEncoder,
    "bi-encoder": BiEncoder,
    "bi-encoder-fused": BiEncoder,
    "encoder-decoder": EncoderDecoder,
    "encoder-decoder-cls": EncoderDecoder,
}
# Official ``_keys_to_ignore_on_load_unexpected``: old checkpoints may carry absolute position tables.
_IGNORED_UNEXPECTED = ("position_embeddings",)
# Tied weight the official loader does not re-tie (see ``GLiClassModel.save_weights``): always written out.
_OFFICIAL_UNTIED_SUFFIX = "decoder.embed_tokens.weight"
_ENCODER_PREFIXES = tuple(f"model.{name}." for name in BACKBONE_ATTRIBUTES)
_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


class GLiClassModel(nn.Module):
    """The network of a GLiClass checkpoint: ``forward(**batch) -> logits [B, K]``.

    With ``config.use_calibrator`` it also holds the learned calibrator at ``self.calibrator`` (weights
    ``calibrator.*``, as in the official file). ``forward`` always returns the *uncalibrated* logits; the engine
    applies the calibrator (``calibrator`` module) to them with ``forward_representations``' vectors.
    """

    model: UniEncoder | BiEncoder | EncoderDecoder  # the family network (official attribute name)

    def __init__(self, config: GLiClassConfig, *, init_weights: bool = True):
        super().__init__()
        self.config = config
        family = _FAMILIES[config.architecture_type]
        if init_weights:
            self.model = family(config)
        else:
            with skip_init():
                self.model = family(config)
        self.calibrator: LearnedCalibrator | None = build_calibrator(config) if config.use_calibrator else None

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.model(**batch)

    def forward_representations(self, **batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits [B, K], text vectors [B, D], label vectors [B, K, D])``: the learned calibrator's inputs."""
        return self.model(**batch, return_representations=True)

    # ------------------------------------------------------------------ learned calibrator
    def add_calibrator(
        self,
        *,
        hidden_size: int | None = None,
        beta_max: float | None = None,
        dropout: float | None = None,
        use_bias: bool | None = None,
    ) -> LearnedCalibrator:
        """Attach a fresh calibrator (the identity: beta 1, bias 0) and record it in the config (official API)."""
        for key, value in (
            ("hidden_size", hidden_size),
            ("beta_max", beta_max),
            ("dropout", dropout),
            ("use_bias", use_bias),
        ):
            if value is not None:
                setattr(self.config, f"calibrator_{key}", value)
        self.config.use_calibrator = True
        self.config.validate()
        self.calibrator = build_calibrator(self.config).to(self.device)
        return self.calibrator

    def remove_calibrator(self) -> None:
        """Drop the calibrator; the checkpoint saved afterwards has none (``use_calibrator`` false)."""
        self.config.use_calibrator = False
        self.calibrator = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # ------------------------------------------------------------------ optimisation
    def param_groups(
        self, *, learning_rate: float, head_learning_rate: float, weight_decay: float, head_weight_decay: float
    ) -> list[dict[str, Any]]:
        """Optimiser parameter groups: encoder vs head learning rate and weight decay, no decay on biases and
        norms; frozen parameters are left out. Defined here, once, for every training loop (the model knows
        which of its weights are the pretrained backbone), as nanoGPT's ``configure_optimizers`` does."""
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            encoder = name.startswith(_ENCODER_PREFIXES)
            lr = learning_rate if encoder else head_learning_rate
            no_decay = any(part in name for part in _NO_DECAY) or param.ndim < 2
            decay = 0.0 if no_decay else (weight_decay if encoder else head_weight_decay)
            groups.setdefault((lr, decay), []).append(param)
        return [{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()]

    # ------------------------------------------------------------------ weights
    def tie_weights(self) -> None:
        """Re-tie shared embeddings (T5 checkpoints store only ``shared.weight``; §3.3 of the reference)."""
        for backbone in self.model.children():
            shared = getattr(backbone, "shared", None)
            if shared is None:
                continue
            for part in ("encoder", "decoder"):
                stack = getattr(backbone, part, None)
                if stack is not None and getattr(stack, "embed_tokens", None) is not None:
                    stack.embed_tokens.weight = shared.weight

    def load_weights(self, path: str | Path) -> None:
        """Load an official ``model.safetensors``; raise if a weight the model needs is absent."""
        state = load_file(str(path))
        self.load_state_dict_checked(state)

    def load_state_dict_checked(self, state: dict[str, torch.Tensor]) -> None:
        result = self.load_state_dict(state, strict=False)
        self.tie_weights()
        tied = _tied_names(self)
        missing = [k for k in result.missing_keys if k not in tied]
        if missing:
            raise ValueError(f"Checkpoint is missing {len(missing)} weights, e.g. {missing[:5]}")
        unexpected = [k for k in result.unexpected_keys if not any(part in k for part in _IGNORED_UNEXPECTED)]
        if unexpected:
            raise ValueError(
                f"Checkpoint has {len(unexpected)} weights this config does not use, "
                f"e.g. {unexpected[:5]}: config.json and model.safetensors do not match"
            )

    def save_weights(self, path: str | Path) -> None:
        """Write ``model.safetensors`` with the official names; tied tensors are stored once.

        One exception: the decoder token embeddings of encoder-decoder backbones (T5 family) are also written
        under their own name. The official loader (gliclass 0.1.21 on transformers 5) re-ties only the
        *encoder* embeddings to ``shared.weight``; when ``decoder.embed_tokens.weight`` is absent from the file
        it leaves the decoder's embeddings randomly initialised (scores off by up to ~0.45), so without this
        copy the official package could not use an encoder-decoder checkpoint saved by uniclass. uniclass
        itself loads either form (it re-ties after loading).
        """
        seen: set[int] = set()
        state: dict[str, torch.Tensor] = {}
        for name, tensor in self.state_dict().items():
            key = tensor.data_ptr()
            if key in seen and tensor.numel() > 0:
                if not name.endswith(_OFFICIAL_UNTIED_SUFFIX):
                    continue
                tensor = tensor.clone()  # safetensors refuses tensors that share memory
            seen.add(key)
            state[name] = tensor.detach().contiguous().cpu()
        save_file(state, str(path), metadata={"format": "pt"})


def _tied_names(module: nn.Module) -> set[str]:
    """Names of parameters that share storage with an earlier parameter (and need not be in a file)."""
    first: dict[int, str] = {}
    tied: set[str] = set()
    for name, tensor in module.state_dict(keep_vars=True).items():
        key = tensor.data_ptr()
        if key in first:
            tied.add(name)
        else:
            first[key] = name
    # non-persistent buffers never appear in a file either; state_dict already excludes them
    return tied
