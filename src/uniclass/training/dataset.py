"""Training items drawn with fresh augmentation each time: shuffled labels, sampled negatives, examples.

Augmentation returns copies, so the underlying data never changes between epochs (the official dataset
shuffles ``all_labels`` in place).

Resumable randomness: once :meth:`TrainingDataset.set_epoch` has been called (the ``Trainer`` does it every
epoch), each item's augmentation draws from its own RNG seeded by ``(seed, epoch, index)``. An item's draw then
depends on nothing that happened before in the process, so a run resumed from a checkpoint sees exactly the
labels, negatives and examples of an uninterrupted run (a saved RNG state would not: the dataloader prefetches
batches ahead of the checkpoint), while every epoch still sees a new order and new negatives.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..data.formats import Example


class LabelAugmenter:
    """Per-draw label augmentation; every option is off unless asked for.

    ``augmenter(index)`` draws from the augmenter's own stream (``self.rng``: fresh on every call, but it depends
    on the calls made before); ``augmenter(index, epoch=e)`` draws from an RNG keyed by ``(seed, e, index)``,
    the same in any process and at any time.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        shuffle_labels: bool = True,
        negatives_per_item: int = 0,
        remove_labels_prob: float = 0.0,
        add_examples_prob: float = 0.0,
        label_descriptions: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        add_descriptions_prob: float = 0.0,
        synonyms_prob: float = 0.0,
        seed: int = 0,
    ):
        self.label_descriptions = dict(label_descriptions or {})
        self.add_descriptions_prob = add_descriptions_prob
        self.synonyms_prob = synonyms_prob
        self.shuffle_labels = shuffle_labels
        self.negatives_per_item = negatives_per_item
        self.remove_labels_prob = remove_labels_prob
        self.add_examples_prob = add_examples_prob
        self.seed = seed
        self.rng = random.Random(seed)
        self.label_pool = sorted({label for e in examples for label in e.all_labels})
        self._by_label: dict[str, list[int]] = {}
        if add_examples_prob:
            for i, e in enumerate(examples):
                if not e.text.strip():  # an empty text is no few-shot example: the input checks refuse one
                    continue
                for label in e.true_labels:
                    self._by_label.setdefault(label, []).append(i)
        self._examples = examples

    def __call__(self, index: int, epoch: int | None = None) -> dict[str, Any]:
        rng = self.rng if epoch is None else self.keyed_rng(epoch, index)
        example = self._examples[index]
        pairs = list(zip(example.all_labels, example.targets))
        if self.remove_labels_prob and rng.random() < self.remove_labels_prob:
            pairs = self._remove_negatives(pairs, rng)
        if self.negatives_per_item:
            pairs += self._sample_negatives({label for label, _ in pairs}, rng)
        text = example.text
        if self.add_descriptions_prob and rng.random() < self.add_descriptions_prob:
            text = self._add_descriptions(text, [label for label, _ in pairs], rng)
        if self.synonyms_prob:
            pairs = [(self._synonym(label, rng), target) for label, target in pairs]
        if self.shuffle_labels:
            rng.shuffle(pairs)
        item_examples = list(example.examples)
        if self.add_examples_prob and rng.random() < self.add_examples_prob:
            item_examples += self._sample_examples(index, example, rng)
        return {
            "text": text,
            "labels": [label for label, _ in pairs],
            "targets": [target for _, target in pairs],
            "prompt": example.prompt,
            "examples": item_examples,
        }

    def keyed_rng(self, epoch: int, index: int) -> random.Random:
        """The RNG of item ``index`` in ``epoch``: a function of ``(seed, epoch, index)`` only.

        A string seed is hashed with SHA-512 by ``random.Random``, so it does not depend on ``PYTHONHASHSEED``.
        """
        return random.Random(f"uniclass-augment/{self.seed}/{epoch}/{index}")

    def _add_descriptions(self, text: str, labels: list[str], rng: random.Random) -> str:
        """Official augmentation: "label: description" for up to 3 labels, before or after the text."""
        described = [label for label in labels if self.label_descriptions.get(label, {}).get("descriptions")]
        if not described:
            return text
        chosen = rng.sample(described, min(3, len(described)))
        notes = " ".join(f"{label}: {rng.choice(self.label_descriptions[label]['descriptions'])}" for label in chosen)
        return f"{notes} {text}" if rng.random() < 0.5 else f"{text} {notes}"

    def _synonym(self, label: str, rng: random.Random) -> str:
        """Official augmentation: a label is replaced by one of its synonyms with probability ``synonyms_prob``."""
        synonyms = self.label_descriptions.get(label, {}).get("synonyms")
        if synonyms and rng.random() < self.synonyms_prob:
            return rng.choice(list(synonyms))
        return label

    def _remove_negatives(self, pairs: list[tuple[str, float]], rng: random.Random) -> list[tuple[str, float]]:
        negatives = [p for p in pairs if p[1] == 0]
        if not negatives:
            return pairs
        keep = set(rng.sample(range(len(negatives)), rng.randint(0, len(negatives) - 1)))
        kept_negatives = [p for i, p in enumerate(negatives) if i in keep]
        return [p for p in pairs if p[1] > 0] + kept_negatives

    def _sample_negatives(self, present: set[str], rng: random.Random) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for _ in range(self.negatives_per_item * 3):  # bounded retries when the pool is small
            if len(out) == self.negatives_per_item:
                break
            label = rng.choice(self.label_pool)
            if label not in present:
                present.add(label)
                out.append((label, 0.0))
        return out

    def _sample_examples(self, index: int, example: Example, rng: random.Random) -> list[dict[str, Any]]:
        candidates = sorted({j for label in example.true_labels for j in self._by_label.get(label, []) if j != index})
        if not candidates:
            return []
        chosen = rng.sample(candidates, min(len(candidates), rng.randint(1, 2)))
        return [{"text": self._examples[j].text, "labels": self._examples[j].true_labels} for j in chosen]


def load_label_descriptions(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """The official label-description file: a JSON list of ``{"label", "descriptions", "synonyms"}``."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of {{label, descriptions, synonyms}} objects")
    out: dict[str, dict[str, list[str]]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("label"), str):
            raise ValueError(f"{path}: entry {i} needs a string 'label'")
        out[entry["label"]] = {key: [str(x) for x in entry.get(key) or []] for key in ("descriptions", "synonyms")}
    return out


class TrainingDataset(Dataset):
    """A map-style dataset whose items are augmented anew each time they are read.

    Until :meth:`set_epoch` is called every read draws fresh augmentation from the augmenter's stream; after it,
    item ``i`` of epoch ``e`` is augmented from an RNG keyed by ``(seed, e, i)`` (new each epoch, identical when
    a resumed run reads it again). The ``Trainer`` calls ``set_epoch`` at the start of every epoch; with
    ``persistent_workers`` the worker processes would keep their own copy and not see it, so
    ``TrainingArguments`` refuses persistent workers while any augmentation is on.
    """

    def __init__(self, examples: Sequence[Example], augmenter: LabelAugmenter | None = None):
        self.examples = list(examples)
        self.augmenter = augmenter or LabelAugmenter(self.examples, shuffle_labels=False)
        self.epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.augmenter(index, self.epoch)
