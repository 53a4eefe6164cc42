"""The classification head every architecture shares (official attribute names, so weights load as saved)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import GLiClassConfig
from .layers import FeaturesProjector, LstmSeq2SeqEncoder
from .scorers import build_scorer


def attach_head(module: nn.Module, config: GLiClassConfig) -> None:
    """Give ``module`` the text/label projectors, scorer, optional BiLSTM, dropout and logit scale."""
    enc_size = config.encoder_hidden_size
    projector = (enc_size, config.hidden_size, enc_size, config.projector_hidden_act, config.dropout)
    module.text_projector = FeaturesProjector(*projector)
    module.classes_projector = FeaturesProjector(*projector)
    module.scorer = build_scorer(config)
    if config.use_lstm:
        # The official code sizes the LSTM with the projector width, not the encoder width.
        module.lstm = LstmSeq2SeqEncoder(config.hidden_size, config.hidden_size // 2)
    module.dropout = nn.Dropout(config.dropout)
    module.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))
