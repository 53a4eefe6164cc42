"""Backbone construction from a nested ``encoder_config`` (no download, no weight init work)."""

from __future__ import annotations

import contextlib

from transformers import AutoModel, PretrainedConfig, PreTrainedModel, T5EncoderModel, UMT5EncoderModel

from ..config import BackboneConfig, max_positions  # noqa: F401  (max_positions re-exported: it reads only config fields)

# Official attribute names of the pretrained backbones inside a family network (``GLiClassModel.model``):
# everything else there is the GLiClass head. LoRA wraps these, the optimiser gives them the encoder learning
# rate, and a new model from a backbone puts the pretrained weights here.
BACKBONE_ATTRIBUTES = ("encoder_model", "label_encoder", "encoder_decoder_model")

_T5_FAMILY: dict[str, type[PreTrainedModel]] = {"t5": T5EncoderModel, "mt5": T5EncoderModel, "umt5": UMT5EncoderModel}


def skip_init():
    """Context in which transformers does not run weight initialisation (weights are loaded right after)."""
    try:
        from transformers.initialization import no_init_weights

        return no_init_weights()
    except ImportError:  # pragma: no cover - older transformers
        return contextlib.nullcontext()


def build_encoder(
    config: PretrainedConfig | BackboneConfig | None, vocab_size: int | None = None, *, encoder_only: bool = True
) -> PreTrainedModel:
    """Build the backbone described by ``config``.

    T5-family configs give their encoder-only model when ``encoder_only`` (the uni-encoder reads one
    sequence); everything else goes through ``AutoModel``. Embeddings are resized to ``vocab_size``, the row
    count after the special tokens were added.
    """
    if not isinstance(config, PretrainedConfig):
        # a torch-free BackboneConfig (plain_backbones=True) describes a backbone but cannot build one
        raise TypeError(f"building a backbone needs a transformers config, got {type(config).__name__}")
    model_type = getattr(config, "model_type", "")
    if encoder_only and model_type in _T5_FAMILY:
        model = _T5_FAMILY[model_type]._from_config(config)
    else:
        model = AutoModel.from_config(config)
    if vocab_size is not None and model.get_input_embeddings().num_embeddings != vocab_size:
        model.resize_token_embeddings(vocab_size)
    return model
