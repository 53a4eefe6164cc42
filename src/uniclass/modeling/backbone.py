"""Backbone construction from a nested ``encoder_config`` (no download, no weight init work)."""

from __future__ import annotations

import contextlib

from torch import nn
from transformers import AutoModel, PretrainedConfig, T5EncoderModel, UMT5EncoderModel

_T5_FAMILY = {"t5": T5EncoderModel, "mt5": T5EncoderModel, "umt5": UMT5EncoderModel}

# Backbones whose positions are relative: the window is not limited by a position-embedding table.
_RELATIVE_POSITION_TYPES = {"t5", "mt5", "umt5", "longt5"}
# Backbones whose learned position ids start after the padding index (RoBERTa family): 2 rows are lost.
_OFFSET_POSITION_TYPES = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer", "bart", "mbart"}


def skip_init():
    """Context in which transformers does not run weight initialisation (weights are loaded right after)."""
    try:
        from transformers.initialization import no_init_weights

        return no_init_weights()
    except ImportError:  # pragma: no cover - older transformers
        return contextlib.nullcontext()


def build_encoder(config: PretrainedConfig, vocab_size: int | None = None, *, encoder_only: bool = True) -> nn.Module:
    """Build the backbone described by ``config``.

    T5-family configs give their encoder-only model when ``encoder_only`` (the uni-encoder reads one
    sequence); everything else goes through ``AutoModel``. Embeddings are resized to ``vocab_size``, the row
    count after the special tokens were added.
    """
    model_type = getattr(config, "model_type", "")
    if encoder_only and model_type in _T5_FAMILY:
        model = _T5_FAMILY[model_type]._from_config(config)
    else:
        model = AutoModel.from_config(config)
    if vocab_size is not None and model.get_input_embeddings().num_embeddings != vocab_size:
        model.resize_token_embeddings(vocab_size)
    return model


def max_positions(config: PretrainedConfig) -> int | None:
    """Longest sequence the backbone can read, or ``None`` when positions are relative/unbounded.

    The official pipelines default to ``max_length=1024``, which crashes BERT/MiniLM-style backbones with 512
    learned positions on long inputs; uniclass caps the window with this value.
    """
    config = config.get_text_config()
    model_type = getattr(config, "model_type", "")
    if model_type in _RELATIVE_POSITION_TYPES:
        return None
    if model_type in ("deberta-v2", "deberta") and not getattr(config, "position_biased_input", True):
        return None
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if model_type in _OFFSET_POSITION_TYPES:
        positions -= 2
    return int(positions)
