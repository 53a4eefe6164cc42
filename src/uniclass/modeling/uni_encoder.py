"""The uni-encoder: labels and text in one encoder pass (the architecture of every published GLiClass model).

Input, built by ``uniclass.processing``::

    [CLS] <<LABEL>>label 1<<LABEL>>label 2 ... <<SEP>> prompt text examples [SEP]   (prompt_first)
    [CLS] text <<LABEL>>label 1 ... <<SEP>> prompt examples [SEP]                   (text first)

Forward pass, top to bottom:

1. (optional) add segment embeddings to the token embeddings;
2. run the encoder, take the last layer (or ``encoder_layer_id``);
3. label vectors: the hidden state at each ``<<LABEL>>`` (``first``) or the mean over each label's span
   (``average``);
4. text vector: pool the sequence (or, with ``extract_text_features``, the part from ``<<SEP>>`` on), after an
   optional BiLSTM;
5. project both, optionally L2-normalise, score, and scale by ``logit_scale`` when normalised.

Every step is computed per row as the official code computes it at batch size 1, so padding never changes a
score (the official poolers ignore the attention mask).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import GLiClassConfig
from .backbone import build_encoder
from .head import HeadModules, attach_head
from .layers import pool_tokens

_EPSILON = 1e-8


class UniEncoder(HeadModules, nn.Module):
    def __init__(self, config: GLiClassConfig):
        super().__init__()
        self.config = config
        self.encoder_model = build_encoder(config.encoder_config, config.vocab_size)
        attach_head(self, config)
        if config.use_segment_embeddings:
            self.segment_embeddings = nn.Embedding(3, config.encoder_hidden_size)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        slot_counts: torch.Tensor | None = None,
        return_label_vectors: bool = False,
        slot_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        return_representations: bool = False,
        **_: object,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits ``[B, K]`` for the ``K = max(slot_counts)`` label slots of each row.

        ``slot_mask`` (``[B, K]``, 1 for the slots of each row) can replace ``slot_counts``: K then comes from a
        tensor shape instead of a Python int, which keeps the label axis dynamic in an exported ONNX graph.
        ``return_label_vectors`` also returns the projected label vectors (for the contrastive loss);
        ``return_representations`` returns ``(logits, text vectors [B, D], label vectors [B, K, D])``, the inputs
        of the learned calibrator (``calibrator``).
        ``position_ids`` (``[B, L]``) go to the backbone: ``label_order.stable_position_ids`` makes the label
        vectors independent of the order of the labels.
        """
        if slot_mask is None:
            slot_mask = slot_mask_from_counts(slot_counts)
        num_slots = slot_mask.shape[1]
        hidden = self.encode(input_ids, attention_mask, position_ids)
        labels = label_vectors(self.config, hidden, input_ids, attention_mask, num_slots)
        text, text_mask = self.text_vector(hidden, input_ids, attention_mask)

        text = self.dropout(self.text_projector(text))
        labels = self.classes_projector(labels)
        if self.config.normalize_features:
            text = text / (text.norm(p=2, dim=-1, keepdim=True) + _EPSILON)
            labels = labels / (labels.norm(p=2, dim=-1, keepdim=True) + _EPSILON)
        logits = self.scorer(text, labels, text_mask=text_mask, slot_mask=slot_mask.bool())
        if self.config.normalize_features:
            logits = logits * self.logit_scale
        if return_representations:
            return logits, text, labels
        return (logits, labels) if return_label_vectors else logits

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        need_layers = self.config.encoder_layer_id != -1
        # only passed when given: some backbones' forward has no position_ids argument
        extra = {} if position_ids is None else {"position_ids": position_ids}
        if self.config.use_segment_embeddings:
            embeds = self.encoder_model.get_input_embeddings()(input_ids)
            embeds = embeds + self.segment_embeddings(self.segment_ids(input_ids))
            outputs = self.encoder_model(
                inputs_embeds=embeds, attention_mask=attention_mask, output_hidden_states=need_layers, **extra
            )
        else:
            outputs = self.encoder_model(
                input_ids, attention_mask=attention_mask, output_hidden_states=need_layers, **extra
            )
        if need_layers:
            return outputs.hidden_states[self.config.encoder_layer_id]
        return outputs[0]

    # ------------------------------------------------------------------ segments
    def segment_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """0 for the label part, 1 from the first ``<<SEP>>`` on, 2 for examples.

        Official quirk, reproduced for the instruct checkpoints trained with it:
        the example start is found with ``argmin`` over the example-token mask, which is the first position
        that is *not* an example token (normally 0), so a row with any ``<<EXAMPLE>>`` becomes all segment 2.
        A row without ``<<SEP>>`` gets ``argmax == 0`` and is all segment 1.
        """
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        example_mask = input_ids == self.config.example_token_index
        has_example = example_mask.any(dim=-1, keepdim=True)
        example_start = example_mask.int().argmin(dim=-1, keepdim=True)
        text_start = (input_ids == self.config.text_token_index).int().argmax(dim=-1, keepdim=True)
        plain = (positions >= text_start).long()
        with_examples = torch.where(positions >= example_start, 2, torch.where(positions >= text_start, 1, 0))
        return torch.where(has_example, with_examples, plain)

    # ------------------------------------------------------------------ text
    def text_vector(
        self, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The pooled text vector ``[B, D]`` (or token vectors ``[B, L, D]`` for ``pass``) and their mask."""
        tokens, real_mask, span = self._text_tokens(hidden, input_ids, attention_mask)
        if self.config.use_lstm:
            tokens = self.lstm(tokens, real_mask)
            # the official LSTM output is only as long as the real tokens: nothing to pad with zeros
            span = real_mask.sum(dim=1)
        if self.config.pooling_strategy == "pass":
            return tokens, real_mask
        return pool_tokens(self.config.pooling_strategy, tokens, real_mask, span), real_mask

    def _text_tokens(
        self, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = attention_mask.sum(dim=1)
        if not self.config.extract_text_features:
            return hidden, attention_mask, lengths
        # Tokens from the first <<SEP>> to the end, shifted to the front of the buffer. The official buffer
        # keeps the full sequence length, so ``span`` stays the row length (see pool_tokens).
        start = (input_ids == self.config.text_token_index).int().argmax(dim=-1)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        source = (start[:, None] + positions).clamp(max=input_ids.shape[1] - 1)
        real_mask = (positions < (lengths - start)[:, None]).to(attention_mask.dtype)
        tokens = hidden.gather(1, source.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        return tokens * real_mask.unsqueeze(-1).to(hidden.dtype), real_mask, lengths


def slot_mask_from_counts(slot_counts: torch.Tensor | None) -> torch.Tensor:
    """``[B, max(slot_counts)]`` bool mask of the label slots each row was given."""
    if slot_counts is None:
        raise ValueError("forward needs slot_counts or slot_mask (the labels of each row)")
    num_slots = int(slot_counts.max())
    return torch.arange(num_slots, device=slot_counts.device)[None, :] < slot_counts[:, None]


def label_vectors(
    config: GLiClassConfig, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_slots: int
) -> torch.Tensor:
    """``[B, num_slots, D]``: one vector per ``<<LABEL>>`` marker, zeros in slots without a marker."""
    marker = input_ids == config.class_token_index
    label_index = marker.long().cumsum(dim=-1)  # k+1 inside the k-th label's span
    slots = torch.arange(1, num_slots + 1, device=hidden.device).view(1, -1, 1)
    if config.class_token_pooling == "average":
        # Every token from a label's marker up to the next marker. The span of the last label stops at
        # <<SEP>> only with extract_text_features; otherwise it runs to the end of the sequence (prompt,
        # text and examples included). An official quirk, kept for parity.
        select = (label_index.unsqueeze(1) == slots) & attention_mask.bool().unsqueeze(1)
        if config.extract_text_features:
            after_text = (input_ids == config.text_token_index).long().cumsum(dim=-1) > 0
            select = select & ~after_text.unsqueeze(1)
        if not config.embed_class_token:
            select = select & ~marker.unsqueeze(1)
        weights = select.to(hidden.dtype)
        return torch.einsum("bks,bsd->bkd", weights, hidden) / weights.sum(-1, keepdim=True).clamp(min=1)
    select = marker.unsqueeze(1) & (label_index.unsqueeze(1) == slots)
    if not config.embed_class_token:
        # the first token of the label instead of its marker
        select = torch.nn.functional.pad(select[:, :, :-1], (1, 0))
    return torch.einsum("bks,bsd->bkd", select.to(hidden.dtype), hidden)
