"""Training items drawn with fresh augmentation each time: shuffled labels, sampled negatives, examples.

Augmentation returns copies, so the underlying data never changes between epochs (the official dataset
shuffles ``all_labels`` in place).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from ..data.formats import Example


class LabelAugmenter:
    """Per-draw label augmentation; every option is off unless asked for."""

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        shuffle_labels: bool = True,
        negatives_per_item: int = 0,
        remove_labels_prob: float = 0.0,
        add_examples_prob: float = 0.0,
        seed: int = 0,
    ):
        self.shuffle_labels = shuffle_labels
        self.negatives_per_item = negatives_per_item
        self.remove_labels_prob = remove_labels_prob
        self.add_examples_prob = add_examples_prob
        self.rng = random.Random(seed)
        self.label_pool = sorted({label for e in examples for label in e.all_labels})
        self._by_label: dict[str, list[int]] = {}
        if add_examples_prob:
            for i, e in enumerate(examples):
                for label in e.true_labels:
                    self._by_label.setdefault(label, []).append(i)
        self._examples = examples

    def __call__(self, index: int) -> dict[str, Any]:
        example = self._examples[index]
        pairs = list(zip(example.all_labels, example.targets))
        if self.remove_labels_prob and self.rng.random() < self.remove_labels_prob:
            pairs = self._remove_negatives(pairs)
        if self.negatives_per_item:
            pairs += self._sample_negatives({label for label, _ in pairs})
        if self.shuffle_labels:
            self.rng.shuffle(pairs)
        item_examples = list(example.examples)
        if self.add_examples_prob and self.rng.random() < self.add_examples_prob:
            item_examples += self._sample_examples(index, example)
        return {
            "text": example.text,
            "labels": [label for label, _ in pairs],
            "targets": [target for _, target in pairs],
            "prompt": example.prompt,
            "examples": item_examples,
        }

    def _remove_negatives(self, pairs: list[tuple[str, float]]) -> list[tuple[str, float]]:
        negatives = [p for p in pairs if p[1] == 0]
        if not negatives:
            return pairs
        keep = set(self.rng.sample(range(len(negatives)), self.rng.randint(0, len(negatives) - 1)))
        kept_negatives = [p for i, p in enumerate(negatives) if i in keep]
        return [p for p in pairs if p[1] > 0] + kept_negatives

    def _sample_negatives(self, present: set[str]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for _ in range(self.negatives_per_item * 3):  # bounded retries when the pool is small
            if len(out) == self.negatives_per_item:
                break
            label = self.rng.choice(self.label_pool)
            if label not in present:
                present.add(label)
                out.append((label, 0.0))
        return out

    def _sample_examples(self, index: int, example: Example) -> list[dict[str, Any]]:
        candidates = sorted({j for label in example.true_labels for j in self._by_label.get(label, []) if j != index})
        if not candidates:
            return []
        chosen = self.rng.sample(candidates, min(len(candidates), self.rng.randint(1, 2)))
        return [{"text": self._examples[j].text, "labels": self._examples[j].true_labels} for j in chosen]


class TrainingDataset(Dataset):
    """A map-style dataset whose items are augmented anew each time they are read."""

    def __init__(self, examples: Sequence[Example], augmenter: LabelAugmenter | None = None):
        self.examples = list(examples)
        self.augmenter = augmenter or LabelAugmenter(self.examples, shuffle_labels=False)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.augmenter(index)
