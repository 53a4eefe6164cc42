"""The classification head every architecture shares (official attribute names, so weights load as saved)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import GLiClassConfig
from .layers import FeaturesProjector, LstmSeq2SeqEncoder
from .scorers import build_scorer


class HeadModules:
    """The modules ``attach_head`` gives a family network, declared for type checkers (base class of the families).

    ``nn.Module.__getattr__`` types every submodule as ``Tensor | Module``, so without these declarations a call such
    as ``self.scorer(...)`` does not type-check. Annotations only: they create no attribute at runtime.
    """

    text_projector: FeaturesProjector
    classes_projector: FeaturesProjector
    scorer: nn.Module
    lstm: LstmSeq2SeqEncoder
    dropout: nn.Dropout
    logit_scale: nn.Parameter


def projector_width(config: GLiClassConfig) -> int:
    """``config.hidden_size``, the projectors' inner width (``GLiClassConfig`` fills it in when it is not given)."""
    return config.encoder_hidden_size if config.hidden_size is None else config.hidden_size


def attach_head(module: nn.Module, config: GLiClassConfig) -> None:
    """Give ``module`` the text/label projectors, scorer, optional BiLSTM, dropout and logit scale."""
    enc_size = config.encoder_hidden_size
    width = projector_width(config)
    projector = (enc_size, width, enc_size, config.projector_hidden_act, config.dropout)
    module.text_projector = FeaturesProjector(*projector)
    module.classes_projector = FeaturesProjector(*projector)
    module.scorer = build_scorer(config)
    if config.use_lstm:
        # The official code sizes the LSTM with the projector width, not the encoder width.
        module.lstm = LstmSeq2SeqEncoder(width, width // 2)
    module.dropout = nn.Dropout(config.dropout)
    module.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))
