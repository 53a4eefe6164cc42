"""Encoder-decoder GLiClass models (T5-style backbones).

``encoder-decoder``: the encoder reads ``text + examples``; the decoder reads
``<<LABEL>>l1<<LABEL>>l2...<<SEP>>prompt`` with a bidirectional mask (a 4-D mask makes the decoder skip its
causal pattern); label vectors are read at the decoder's ``<<LABEL>>`` tokens, the text vector is pooled
from the encoder output.

``encoder-decoder-cls``: the reverse. The encoder reads the label prompt, the decoder reads the text
(causally), and the text vector is the decoder state at the last real token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import GLiClassConfig
from .backbone import build_encoder
from .head import HeadModules, attach_head
from .layers import pool_tokens
from .uni_encoder import label_vectors, slot_mask_from_counts

_EPSILON = 1e-8


class EncoderDecoder(HeadModules, nn.Module):
    def __init__(self, config: GLiClassConfig):
        super().__init__()
        if not getattr(config.encoder_config, "is_encoder_decoder", False):
            raise ValueError(f"{config.architecture_type} needs an encoder-decoder backbone (e.g. T5).")
        self.config = config
        # Official quirk: the encoder-decoder backbone is built from encoder_config without a resize.
        self.encoder_decoder_model = build_encoder(config.encoder_config, encoder_only=False)
        attach_head(self, config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        class_input_ids: torch.Tensor,
        class_attention_mask: torch.Tensor,
        slot_counts: torch.Tensor | None = None,
        return_label_vectors: bool = False,
        slot_mask: torch.Tensor | None = None,
        return_representations: bool = False,
        **_: object,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits ``[B, K]``; ``slot_mask`` (``[B, K]``) can replace ``slot_counts``; ``return_representations``
        also returns the text and label vectors (see ``UniEncoder.forward``)."""
        if slot_mask is None:
            slot_mask = slot_mask_from_counts(slot_counts)
        num_slots = slot_mask.shape[1]
        text_mask = None
        if self.config.architecture_type == "encoder-decoder":
            outputs = self.encoder_decoder_model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                decoder_input_ids=class_input_ids,
                decoder_attention_mask=_bidirectional_mask(class_attention_mask, self.encoder_decoder_model.dtype),
            )
            labels = label_vectors(
                self.config, outputs.last_hidden_state, class_input_ids, class_attention_mask, num_slots
            )
            tokens, mask = outputs.encoder_last_hidden_state, attention_mask
            if self.config.use_lstm:
                tokens = self.lstm(tokens, mask)
            if self.config.pooling_strategy == "pass":
                # cross-attn scorer: every encoder token is kept and the scorer attends over the real ones (the
                # official encoder-decoder supports this pairing; pool_tokens does not know "pass")
                text, text_mask = tokens, mask
            else:
                text = pool_tokens(self.config.pooling_strategy, tokens, mask, mask.sum(dim=1))
        else:
            outputs = self.encoder_decoder_model(
                input_ids=class_input_ids,
                attention_mask=class_attention_mask,
                decoder_input_ids=input_ids,
                decoder_attention_mask=attention_mask,
            )
            labels = label_vectors(
                self.config, outputs.encoder_last_hidden_state, class_input_ids, class_attention_mask, num_slots
            )
            last = attention_mask.sum(dim=1) - 1
            text = outputs.last_hidden_state[torch.arange(input_ids.shape[0], device=input_ids.device), last]

        text = self.dropout(self.text_projector(text))
        labels = self.classes_projector(labels)
        if self.config.normalize_features:
            text = F.normalize(text, p=2, dim=-1, eps=_EPSILON)
            labels = F.normalize(labels, p=2, dim=-1, eps=_EPSILON)
        logits = self.scorer(text, labels, text_mask=text_mask, slot_mask=slot_mask.bool())
        if self.config.normalize_features:
            logits = logits * self.logit_scale
        if return_representations:
            return logits, text, labels
        return (logits, labels) if return_label_vectors else logits


def _bidirectional_mask(mask_2d: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[B, 1, L, L]`` additive mask that hides padding only (no causal triangle)."""
    length = mask_2d.shape[1]
    padding = (1.0 - mask_2d.to(dtype))[:, None, None, :] * torch.finfo(dtype).min
    return padding.expand(mask_2d.shape[0], 1, length, length)
