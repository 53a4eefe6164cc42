"""Bi-encoders: a text encoder and a separate label encoder.

``bi-encoder``: the text (``prompt + " " + text``) and each label are encoded apart; label vectors go through
``biencoder_projector`` then ``classes_projector``; logit = score(text, label) * logit_scale (always applied,
a raw multiplier). Because labels never see the text, their vectors can be computed once and cached.

``bi-encoder-fused``: the text input carries one ``<<LABEL>>`` per label; the word embedding at each marker is
replaced by that label's vector, and the text encoder's output at the marker becomes the label vector that
is scored (not projected again).

Pooling of the label encoder output is mask-aware: each label is pooled as if it had been encoded alone,
whatever the other labels of the call (the official pooler also averages over label padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import GLiClassConfig
from .backbone import build_encoder
from .head import attach_head
from .layers import BiEncoderProjector, pool_tokens

_EPSILON = 1e-8


class BiEncoder(nn.Module):
    def __init__(self, config: GLiClassConfig):
        super().__init__()
        self.config = config
        enc_size = config.encoder_hidden_size
        fused = config.architecture_type == "bi-encoder-fused"
        # The plain bi-encoder's text encoder is not resized by the official code (no tokens are added).
        self.encoder_model = build_encoder(config.encoder_config, config.vocab_size if fused else None)
        self.label_encoder = build_encoder(config.label_model_config)
        self.biencoder_projector = BiEncoderProjector(
            config.label_model_config.hidden_size, config.hidden_size, enc_size, config.projector_hidden_act
        )
        attach_head(self, config)  # its LSTM, if configured, is loaded like the official one but unused

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pool_tokens(self.config.pooling_strategy, hidden, mask, mask.sum(dim=1))

    def encode_labels(self, label_input_ids: torch.Tensor, label_attention_mask: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` label vectors, one per tokenised label (rows are independent, so they can be cached)."""
        hidden = self.label_encoder(label_input_ids, attention_mask=label_attention_mask)[0]
        vectors = self.classes_projector(self.biencoder_projector(self._pool(hidden, label_attention_mask)))
        if self.config.normalize_features:
            vectors = F.normalize(vectors, p=2, dim=-1, eps=_EPSILON)
        return vectors

    def _text_vector(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        text = self.dropout(self.text_projector(self._pool(hidden, attention_mask)))
        if self.config.normalize_features:
            text = F.normalize(text, p=2, dim=-1, eps=_EPSILON)
        return text

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        slot_counts: torch.Tensor,
        label_vectors: torch.Tensor | None = None,
        label_input_ids: torch.Tensor | None = None,
        label_attention_mask: torch.Tensor | None = None,
        label_index: torch.Tensor | None = None,
        return_label_vectors: bool = False,
        **_: object,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, K]``.

        Label vectors ``[B, K, D]`` come either pre-computed (inference caches them with ``encode_labels``) or
        from ``label_input_ids`` (each distinct label once) and ``label_index`` (``[B, K]`` rows into them,
        -1 for padding), which keeps the label encoder in the graph for training.
        """
        if label_vectors is None:
            encoded = self.encode_labels(label_input_ids, label_attention_mask)
            label_vectors = encoded[label_index.clamp(min=0)] * (label_index >= 0).unsqueeze(-1).to(encoded.dtype)
        slot_mask = torch.arange(label_vectors.shape[1], device=input_ids.device)[None, :] < slot_counts[:, None]
        if self.config.architecture_type == "bi-encoder-fused":
            hidden, label_vectors = self._fused_pass(input_ids, attention_mask, label_vectors, slot_counts)
        else:
            hidden = self.encoder_model(input_ids, attention_mask=attention_mask)[0]
        text = self._text_vector(hidden, attention_mask)
        logits = self.scorer(text, label_vectors, slot_mask=slot_mask) * self.logit_scale
        return (logits, label_vectors) if return_label_vectors else logits

    def _fused_pass(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_vectors: torch.Tensor, slot_counts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the text encoder with each ``<<LABEL>>`` embedding replaced by its label vector."""
        marker = input_ids == self.config.class_token_index
        rows, positions = torch.where(marker)
        if not torch.equal(marker.sum(dim=1), slot_counts):
            raise ValueError("bi-encoder-fused: the number of <<LABEL>> markers differs from the number of labels")
        slots = torch.cat([torch.arange(int(n), device=input_ids.device) for n in slot_counts])
        embeds = self.encoder_model.get_input_embeddings()(input_ids)
        embeds = embeds.index_put((rows, positions), label_vectors[rows, slots].to(embeds.dtype))
        hidden = self.encoder_model(inputs_embeds=embeds, attention_mask=attention_mask)[0]
        fused_labels = torch.zeros_like(label_vectors)
        fused_labels[rows, slots] = hidden[rows, positions].to(fused_labels.dtype)
        return hidden, fused_labels
