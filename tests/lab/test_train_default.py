"""The default model's recipe (recipes/train_default.py, code in uniclass_lab.recipe_steps.default and
uniclass_lab.mixtures): its schedule, its data mixing, its resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass_lab import mixtures
from uniclass.training import Trainer, TrainingArguments
from uniclass_lab.recipe_steps import default as train_default


def test_lr_multiplier_is_the_sweeps_fitted_schedule() -> None:
    f = train_default.lr_multiplier
    total = 4280
    warmup = int(0.05 * total)  # 214
    # steps 0..100: the provisional warmup of 1/1000 per step the sweep ran before fitting its budget
    assert [f(s, total=total) for s in (0, 1, 50, 100)] == [0.0, 0.001, 0.05, 0.1]
    # from step 101 on: 5% warmup of the fitted run, then linear decay to zero at the last step
    assert f(101, total=total) == pytest.approx(101 / warmup)
    assert f(warmup, total=total) == 1.0
    assert f(total // 2, total=total) == pytest.approx((total - total // 2) / (total - warmup))
    assert f(total, total=total) == 0.0 and f(total + 5, total=total) == 0.0


def _learning_rates(tiny_backbone, out: Path, max_steps: int, resume: bool = False) -> list[tuple[int, float]]:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
    args = TrainingArguments(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=4, learning_rate=1e-3,
                             head_learning_rate=1e-3, warmup_steps=3,  # HF's own warmup, which the callback replaces
                             logging_steps=1, save_strategy="steps", save_steps=3, disable_tqdm=True, use_cpu=True, seed=0)
    callback = train_default.schedule_callback(8, switch=2, provisional_warmup=10)
    trainer = Trainer(clf, args, train_data=topic_items(), callbacks=[callback])
    trainer.train(resume_from_checkpoint=True if resume else None)
    return [(h["step"], h["learning_rate"]) for h in trainer.state.log_history if "learning_rate" in h]


def test_trainer_follows_the_schedule_and_keeps_it_on_resume(tiny_backbone, tmp_path) -> None:
    straight = _learning_rates(tiny_backbone, tmp_path / "a", 8)
    # transformers logs the learning rate each update used: update k ran at the multiplier of step k - 1
    expected = [1e-3 * train_default.lr_multiplier(step - 1, total=8, switch=2, provisional_warmup=10) for step, _ in straight]
    assert [step for step, _ in straight] == list(range(1, 9))
    assert [lr for _, lr in straight] == pytest.approx(expected)
    _learning_rates(tiny_backbone, tmp_path / "b", 3)
    resumed = _learning_rates(tiny_backbone, tmp_path / "b", 8, resume=True)
    # the history of steps 1-3 comes back with checkpoint-3; steps 4-8 ran after the resume
    assert [step for step, _ in resumed] == list(range(1, 9))
    assert [lr for _, lr in resumed[3:]] == pytest.approx([lr for _, lr in straight[3:]])


def test_mix_is_seeded_and_counts_repeats(tmp_path, monkeypatch) -> None:
    components = {name: [json.dumps({"text": f"{name} {i}", "all_labels": ["a", "b"], "true_labels": ["a"]}) for i in range(5)]
                  for name in ("snli", "vader", "wordnet_hard", "topics_hard")}
    first = mixtures.mix(components, "hard_topics", tmp_path / "one.jsonl").read_text()
    second = mixtures.mix(components, "hard_topics", tmp_path / "two.jsonl").read_text()
    assert first == second
    texts = [json.loads(line)["text"] for line in first.splitlines()]
    counts = {name: sum(t.startswith(name) for t in texts) for name in components}
    assert counts == {"snli": 5, "vader": 10, "wordnet_hard": 5, "topics_hard": 15}
    assert texts != sorted(texts, key=lambda t: list(components).index(t.split()[0]))  # shuffled, not concatenated
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temporary file
