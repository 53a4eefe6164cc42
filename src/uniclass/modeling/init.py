"""Start a new GLiClass model from a pretrained backbone folder (or hub id).

It only builds a ``GLiClassModel``, so it lives with the model (``Classifier.from_backbone`` calls it without
reaching into ``training``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..config import BI_ENCODERS, SPECIAL_TOKENS, GLiClassConfig
from .backbone import BACKBONE_ATTRIBUTES
from .model import GLiClassModel

# The official train.py adds the marker tokens for these architectures only.
_NEEDS_MARKERS = ("uni-encoder", "bi-encoder-fused", "encoder-decoder", "encoder-decoder-cls")


def model_from_backbone(
    backbone: str | Path,
    architecture: str = "uni-encoder",
    *,
    label_backbone: str | Path | None = None,
    identity_projectors: bool | str = False,
    **options: Any,
) -> tuple[GLiClassModel, Any, Any]:
    """Build ``(model, tokenizer, label_tokenizer)``: markers added, embeddings resized, head initialised.

    ``options`` are GLiClass config fields (``pooling_strategy``, ``scorer_type``, ``prompt_first``...).
    ``identity_projectors`` starts both projectors near the identity instead of the official small random
    init, so that a sentence-embedding backbone starts from its own similarity (with ``normalize_features``,
    the model begins as cosine similarity between pooled text and label states). ``"exact"``: exactly the
    identity (:func:`exact_identity_projectors`; needs ``hidden_size`` twice the backbone width).
    """
    from transformers import AutoModel, AutoTokenizer, T5EncoderModel

    backbone = str(backbone)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    if architecture in _NEEDS_MARKERS:
        tokenizer.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
    pretrained = AutoModel.from_pretrained(backbone)
    if architecture == "uni-encoder" and pretrained.config.model_type in ("t5", "mt5"):
        pretrained = T5EncoderModel.from_pretrained(backbone)
    if architecture in _NEEDS_MARKERS:
        pretrained.resize_token_embeddings(len(tokenizer))
    marker_ids: dict[str, Any] = {}
    if architecture in _NEEDS_MARKERS:
        ids = [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
        marker_ids = dict(zip(("class_token_index", "text_token_index", "example_token_index"), ids, strict=True))
    label_tokenizer, label_model = None, None
    if architecture in BI_ENCODERS:
        label_path = str(label_backbone or backbone)
        label_tokenizer = AutoTokenizer.from_pretrained(label_path)
        label_model = AutoModel.from_pretrained(label_path)
        options.setdefault("label_model_config", label_model.config)
        options.setdefault("label_model_name", label_path)
    options.setdefault("problem_type", "multi_label_classification")
    config = GLiClassConfig(
        encoder_config=pretrained.config,
        architecture_type=architecture,
        encoder_model_name=backbone,
        vocab_size=pretrained.get_input_embeddings().num_embeddings,
        **marker_ids,
        **options,
    )
    model = GLiClassModel(config)
    init_head(model, config.initializer_range)
    if identity_projectors == "exact":
        exact_identity_projectors(model)
    elif identity_projectors:
        _identity_projectors(model)
    # the pretrained backbone(s) replace the randomly built ones (official attribute names)
    setattr(
        model.model,
        "encoder_decoder_model" if hasattr(model.model, "encoder_decoder_model") else "encoder_model",
        pretrained,
    )
    if label_model is not None:
        model.model.label_encoder = label_model
    return model, tokenizer, label_tokenizer


def init_head(model: GLiClassModel, std: float) -> None:
    """Official head initialisation: normal(0, initializer_range) weights, zero biases (backbones untouched)."""
    for name, module in model.model.named_children():
        if name in BACKBONE_ATTRIBUTES:
            continue
        for sub in module.modules() if isinstance(module, nn.Module) else []:
            if isinstance(sub, (nn.Linear, nn.Embedding)):
                nn.init.normal_(sub.weight, mean=0.0, std=std)
                bias = getattr(sub, "bias", None)  # nn.Embedding has none
                if bias is not None:
                    nn.init.zeros_(bias)
            elif isinstance(sub, nn.LSTM):
                for pname, param in sub.named_parameters():
                    (nn.init.zeros_ if "bias" in pname else lambda p: nn.init.normal_(p, 0.0, std))(param)


def _identity_projectors(model: GLiClassModel) -> None:
    """linear_1 = linear_2 = I (when the widths allow it), zero biases."""
    import torch

    for name in ("text_projector", "classes_projector"):
        projector = getattr(model.model, name)
        for linear in (projector.linear_1, projector.linear_2):
            if linear.weight.shape[0] == linear.weight.shape[1]:
                with torch.no_grad():
                    linear.weight.copy_(torch.eye(linear.weight.shape[0]))
                    linear.bias.zero_()


def exact_identity_projectors(model: GLiClassModel) -> None:
    """Every projector (``linear_2(act(linear_1(x)))``) computes exactly ``x``; needs ``hidden_size = 2 x width``.

    ``linear_1 = [I; -I]`` and ``linear_2 = [I, -I]`` give ``gelu(x) - gelu(-x) = x * (Phi(x) + Phi(-x)) = x``.
    (Setting both to ``I``, as ``identity_projectors=True`` does, computes ``gelu(x)``, which drops most of the
    negative half of every vector: a MiniLM bi-encoder started that way scores at chance, started this way it
    scores what MiniLM's own cosine similarity scores.) Only for the GELU activation.
    """
    import torch

    if model.config.projector_hidden_act != "gelu":
        raise ValueError("exact identity projectors need projector_hidden_act='gelu'")
    for name in ("text_projector", "classes_projector", "biencoder_projector"):
        projector = getattr(model.model, name, None)
        if projector is None:
            continue
        first, second = projector.linear_1, projector.linear_2
        width = first.in_features
        if first.out_features != 2 * width or second.out_features != width:
            raise ValueError(f"exact identity projectors need hidden_size = 2 x {width} (got {first.out_features})")
        eye = torch.eye(width)
        with torch.no_grad():
            first.weight.copy_(torch.cat([eye, -eye], 0))
            first.bias.zero_()
            second.weight.copy_(torch.cat([eye, -eye], 1))
            second.bias.zero_()
