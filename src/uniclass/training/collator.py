"""The collator only tokenises: augmented items in, padded tensors and targets out.

It reuses the inference input builder, so training inputs have exactly the layout the model sees at
inference (the official train.py built text-first inputs while saving ``prompt_first=True``; §8.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..batching import pad_sequences
from ..config import GLiClassConfig
from ..processing import InputBuilder, WindowPolicy, label_encoder_ids, normalize_request


class Collator:
    """Builds model inputs plus ``targets`` and ``label_mask`` (``[B, K]``, padded slots 0)."""

    def __init__(self, config: GLiClassConfig, tokenizer: Any, label_tokenizer: Any = None, *, max_length: int = 512):
        self.config = config
        self.tokenizer = tokenizer
        self.label_tokenizer = label_tokenizer
        self.builder = InputBuilder(config, tokenizer, label_tokenizer)
        # Training keeps every label whole and gives the text whatever room is left (no label groups).
        self.policy = WindowPolicy(max_length, split_labels=False, min_text_share=0.0)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else config.pad_token_id

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        items = [self._fit(item) for item in items]
        request = normalize_request(
            [item["text"] for item in items],
            [item["labels"] for item in items],
            prompt=[item.get("prompt") or "" for item in items],
            examples=[list(item.get("examples") or []) for item in items],
        )
        segments = [plan.segments[0] for plan in self.builder.build(request, self.policy)]
        counts = [len(item["labels"]) for item in items]
        width = max(counts)
        input_ids, attention_mask = pad_sequences([s.input_ids for s in segments], self.pad_id)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        targets = torch.zeros(len(items), width)
        label_mask = torch.zeros(len(items), width, dtype=torch.long)
        for row, item in enumerate(items):
            targets[row, : counts[row]] = torch.tensor(item["targets"], dtype=torch.float)
            label_mask[row, : counts[row]] = 1
        if self.config.is_encoder_decoder:
            batch["class_input_ids"], batch["class_attention_mask"] = pad_sequences(
                [s.class_ids() for s in segments], self.pad_id
            )
        if self.config.is_bi_encoder:
            batch.update(self._label_inputs([item["labels"] for item in items], width))
            batch["slot_counts"] = torch.tensor(counts)
        else:
            batch["slot_counts"] = torch.tensor([self.config.label_slots(n) for n in counts])
        batch["targets"] = targets
        batch["label_mask"] = label_mask
        return batch

    def _fit(self, item: dict[str, Any]) -> dict[str, Any]:
        """Drop negative labels (from the end) until the labels fit the window; positives are never dropped."""
        while True:
            request = normalize_request(
                item["text"],
                item["labels"],
                prompt=item.get("prompt") or None,
                examples=list(item.get("examples") or []) or None,
            )
            try:
                self.builder.build(request, self.policy)
                return item
            except ValueError:
                negatives = [i for i, t in enumerate(item["targets"]) if t == 0]
                if not negatives:
                    raise
                drop = negatives[-1]
                item = {
                    **item,
                    "labels": [x for i, x in enumerate(item["labels"]) if i != drop],
                    "targets": [x for i, x in enumerate(item["targets"]) if i != drop],
                }

    def _label_inputs(self, label_lists: list[list[str]], width: int) -> dict[str, torch.Tensor]:
        """Each distinct label once, and for every text slot the index of its label (-1 for padding)."""
        unique = sorted({label for labels in label_lists for label in labels})
        position = {label: i for i, label in enumerate(unique)}
        ids = label_encoder_ids(self.label_tokenizer, self.config, unique, truncation=True)
        label_ids, label_mask = pad_sequences(ids, self.label_tokenizer.pad_token_id or 0)
        index = torch.full((len(label_lists), width), -1, dtype=torch.long)
        for row, labels in enumerate(label_lists):
            index[row, : len(labels)] = torch.tensor([position[label] for label in labels])
        return {"label_input_ids": label_ids, "label_attention_mask": label_mask, "label_index": index}
