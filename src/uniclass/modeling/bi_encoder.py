"""Bi-encoders: a text encoder and a separate label encoder.

``bi-encoder``: the text (``prompt + " " + text``) and each label are encoded apart; label vectors go through
``biencoder_projector`` then ``classes_projector``; logit = score(text, label) * logit_scale (always applied,
a raw multiplier). Because labels never see the text, their vectors can be computed once and cached.

``bi-encoder-fused``: the text input carries one ``<<LABEL>>`` per label; the word embedding at each marker is
replaced by that label's vector, and the text encoder's output at the marker becomes the label vector that
is scored (not projected again).

``backbone_similarity_weight`` (plain bi-encoder, uniclass only): ``w`` times the cosine of the backbones' own
pooled text and label vectors (before any projector) is added to each logit. The pass computes these vectors
anyway, so the term is free; to keep label vectors cacheable, ``encode_labels`` then returns the projected vector
and the normalised pooled one side by side (``[N, D + H]``, H the label encoder's hidden size), and ``forward``
splits them again.

Pooling of the label encoder output is mask-aware: each label is pooled as if it had been encoded alone,
whatever the other labels of the call (the official pooler also averages over label padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import GLiClassConfig
from .backbone import build_encoder
from .head import HeadModules, attach_head, projector_width
from .layers import BiEncoderProjector, pool_tokens

_EPSILON = 1e-8


class BiEncoder(HeadModules, nn.Module):
    def __init__(self, config: GLiClassConfig):
        super().__init__()
        self.config = config
        enc_size = config.encoder_hidden_size
        fused = config.architecture_type == "bi-encoder-fused"
        # The plain bi-encoder's text encoder is not resized by the official code (no tokens are added).
        self.encoder_model = build_encoder(config.encoder_config, config.vocab_size if fused else None)
        self.label_encoder = build_encoder(config.label_model_config)
        self.biencoder_projector = BiEncoderProjector(
            self.label_encoder.config.hidden_size, projector_width(config), enc_size, config.projector_hidden_act
        )
        attach_head(self, config)  # its LSTM, if configured, is loaded like the official one but unused

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pool_tokens(self.config.pooling_strategy, hidden, mask, mask.sum(dim=1))

    def encode_labels(self, label_input_ids: torch.Tensor, label_attention_mask: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` label vectors, one per tokenised label (rows are independent, so they can be cached)."""
        hidden = self.label_encoder(label_input_ids, attention_mask=label_attention_mask)[0]
        pooled = self._pool(hidden, label_attention_mask)
        vectors = self.classes_projector(self.biencoder_projector(pooled))
        if self.config.normalize_features:
            vectors = F.normalize(vectors, p=2, dim=-1, eps=_EPSILON)
        if self.config.backbone_similarity_weight:
            # the backbone's own label vector travels with the projected one, so label caches keep working
            vectors = torch.cat([vectors, F.normalize(pooled, p=2, dim=-1, eps=_EPSILON)], dim=-1)
        return vectors

    def _text_vector(self, pooled: torch.Tensor) -> torch.Tensor:
        text = self.dropout(self.text_projector(pooled))
        if self.config.normalize_features:
            text = F.normalize(text, p=2, dim=-1, eps=_EPSILON)
        return text

    def _split_backbone_vectors(self, label_vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(projected, backbone)`` parts of label vectors from ``encode_labels`` (``backbone`` is None at w = 0)."""
        if not self.config.backbone_similarity_weight:
            return label_vectors, None
        width = self.label_encoder.config.hidden_size
        return label_vectors[..., :-width], label_vectors[..., -width:]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        slot_counts: torch.Tensor | None = None,
        label_vectors: torch.Tensor | None = None,
        label_input_ids: torch.Tensor | None = None,
        label_attention_mask: torch.Tensor | None = None,
        label_index: torch.Tensor | None = None,
        return_label_vectors: bool = False,
        slot_mask: torch.Tensor | None = None,
        return_representations: bool = False,
        **_: object,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits ``[B, K]``.

        Label vectors ``[B, K, D]`` come either pre-computed (inference caches them with ``encode_labels``) or
        from ``label_input_ids`` (each distinct label once) and ``label_index`` (``[B, K]`` rows into them,
        -1 for padding), which keeps the label encoder in the graph for training. ``slot_mask`` (``[B, K]``)
        can replace ``slot_counts`` (the exported ONNX graph takes it). ``return_representations``: also the
        text vectors ``[B, D]`` and the scored label vectors ``[B, K, D]`` (the learned calibrator's inputs).
        """
        if label_vectors is None:
            if label_input_ids is None or label_attention_mask is None or label_index is None:
                raise ValueError(
                    "forward needs label_vectors, or label_input_ids, label_attention_mask and label_index"
                )
            encoded = self.encode_labels(label_input_ids, label_attention_mask)
            label_vectors = encoded[label_index.clamp(min=0)] * (label_index >= 0).unsqueeze(-1).to(encoded.dtype)
        if slot_mask is None:
            if slot_counts is None:
                raise ValueError("forward needs slot_counts or slot_mask (the labels of each row)")
            slot_mask = torch.arange(label_vectors.shape[1], device=input_ids.device)[None, :] < slot_counts[:, None]
        slot_mask = slot_mask.bool()
        if self.config.architecture_type == "bi-encoder-fused":
            if slot_counts is not None:
                markers = (input_ids == self.config.class_token_index).sum(dim=1)
                if not torch.equal(markers, slot_counts.to(markers.dtype)):
                    raise ValueError(
                        "bi-encoder-fused: the number of <<LABEL>> markers differs from the number of labels"
                    )
            hidden, label_vectors = self._fused_pass(input_ids, attention_mask, label_vectors)
            backbone_labels = None
        else:
            label_vectors, backbone_labels = self._split_backbone_vectors(label_vectors)
            hidden = self.encoder_model(input_ids, attention_mask=attention_mask)[0]
        pooled = self._pool(hidden, attention_mask)
        text = self._text_vector(pooled)
        logits = self.scorer(text, label_vectors, slot_mask=slot_mask) * self.logit_scale
        if backbone_labels is not None:
            # padded slots carry zero vectors, so they get no extra score
            backbone_text = F.normalize(pooled, p=2, dim=-1, eps=_EPSILON)
            similarity = torch.einsum("bd,bkd->bk", backbone_text, backbone_labels.to(backbone_text.dtype))
            logits = logits + self.config.backbone_similarity_weight * similarity.to(logits.dtype)
        if return_representations:
            return logits, text, label_vectors
        return (logits, label_vectors) if return_label_vectors else logits

    def _fused_pass(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_vectors: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the text encoder with each ``<<LABEL>>`` embedding replaced by its label vector.

        The k-th marker of a row takes label k. Written with masks and gathers (no per-row Python loop, no
        data-dependent shapes), so it exports to ONNX with dynamic batch, sequence and label axes; selecting
        with 0/1 weights copies values exactly.
        """
        marker = input_ids == self.config.class_token_index
        num_slots = label_vectors.shape[1]
        slot_of_token = marker.long().cumsum(dim=-1) - 1  # k at the k-th marker
        index = slot_of_token.clamp(min=0, max=num_slots - 1).unsqueeze(-1).expand(-1, -1, label_vectors.shape[-1])
        embeds = self.encoder_model.get_input_embeddings()(input_ids)
        replaced = label_vectors.gather(1, index).to(embeds.dtype)
        embeds = torch.where(marker.unsqueeze(-1), replaced, embeds)
        hidden = self.encoder_model(inputs_embeds=embeds, attention_mask=attention_mask)[0]
        slots = torch.arange(num_slots, device=input_ids.device).view(1, -1, 1)
        select = marker.unsqueeze(1) & (slot_of_token.unsqueeze(1) == slots)  # [B, K, L]
        fused_labels = torch.einsum("bkl,bld->bkd", select.to(hidden.dtype), hidden)
        return hidden, fused_labels.to(label_vectors.dtype)
