"""Resuming with label augmentation on replays exactly the draws of an uninterrupted run."""

from __future__ import annotations

import random

import torch

from uniclass import Classifier
from uniclass.training import Trainer, TrainingArguments

POOL = ["sports", "finance", "science", "health", "politics", "travel", "music", "weather"]
SPORTS = ["goal", "match", "team", "won", "player", "score", "league", "final", "coach", "stadium"]
FINANCE = ["stock", "market", "shares", "bank", "rates", "profit", "investor", "price", "trade", "fund"]


def _items(n: int = 8) -> list[dict]:
    rng = random.Random(0)
    items = []
    for i in range(n):
        label = "sports" if i % 2 == 0 else "finance"
        words = rng.sample(SPORTS if label == "sports" else FINANCE, 5)
        others = rng.sample([x for x in POOL if x != label], 2)
        items.append({"text": " ".join(words), "all_labels": [label, *others], "true_labels": [label]})
    return items


class _Recording(Trainer):
    """Keeps the exact loss of every training step (the logged loss is rounded)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_losses: list[float] = []
        self.step_epochs: list[int | None] = []  # the epoch the augmentation was keyed by

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.step_losses.append(float(loss.detach()))
        self.step_epochs.append(self.train_dataset.epoch)
        return loss


def _run(tiny_backbone, out, max_steps: int, resume) -> _Recording:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
    args = TrainingArguments(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=4, learning_rate=3e-3,
        lr_scheduler_type="constant", logging_steps=1, save_strategy="steps", save_steps=3, disable_tqdm=True,
        use_cpu=True, seed=0, shuffle_labels=True, negatives_per_item=2, remove_labels_prob=0.5,
    )
    trainer = _Recording(clf, args, train_data=_items())
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def test_resume_with_shuffling_and_negatives_is_exact(tiny_backbone, tmp_path, one_torch_thread) -> None:
    """6 steps straight vs 3 + resume to 6 (2 steps an epoch: the resume is mid-epoch, after an epoch boundary)."""
    straight = _run(tiny_backbone, tmp_path / "a", 6, None)
    first = _run(tiny_backbone, tmp_path / "b", 3, None)
    resumed = _run(tiny_backbone, tmp_path / "b", 6, True)
    assert len(straight.step_losses) == 6 and resumed.state.global_step == 6
    assert straight.step_epochs == [0, 0, 1, 1, 2, 2] and resumed.step_epochs == [1, 2, 2]
    assert first.step_losses == straight.step_losses[:3]
    assert resumed.step_losses == straight.step_losses[3:]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
