"""End-to-end training on a tiny backbone: learning, checkpoints, resume, LoRA merge, single-label, bi-encoder."""

from __future__ import annotations

import numpy as np
import torch

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass.training import Trainer, TrainingArguments

PROBE = ["goal team won final", "bank shares price fund", "coach stadium league", "investor profit trade"]
PROBE_LABELS = ["sports", "finance"]


def _args(tmp_path, **overrides) -> TrainingArguments:
    values = dict(
        output_dir=str(tmp_path / "run"),
        max_steps=80,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        logging_steps=20,
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
    )
    values.update(overrides)
    return TrainingArguments(**values)


def _losses(trainer: Trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_loss_goes_down_and_checkpoint_reloads(tiny_backbone, tmp_path) -> None:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, prompt_first=True, pooling_strategy="avg")
    trainer = Trainer(clf, _args(tmp_path, save_strategy="steps", save_steps=80), train_data=topic_items())
    trainer.train()
    losses = _losses(trainer)
    assert losses[-1] < 0.75 * losses[0], losses
    predicted = [r[0]["label"] for r in clf.classify(PROBE, PROBE_LABELS, multi_label=False)]
    assert predicted == ["sports", "finance", "sports", "finance"]
    reloaded = Classifier.from_pretrained(tmp_path / "run" / "checkpoint-80")
    assert np.array_equal(np.array(reloaded.scores(PROBE, PROBE_LABELS)), np.array(clf.scores(PROBE, PROBE_LABELS)))


def test_resume_continues_from_checkpoint(tiny_backbone, tmp_path) -> None:
    """Training 10 steps, then resuming to 20, gives the same weights as 20 steps in one go."""

    def run(out, max_steps, resume):
        torch.manual_seed(0)
        clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
        args = _args(out, max_steps=max_steps, save_strategy="steps", save_steps=10, shuffle_labels=False, lr_scheduler_type="constant",
                     output_dir=str(out))
        trainer = Trainer(clf, args, train_data=topic_items())
        trainer.train(resume_from_checkpoint=resume)
        return clf, trainer

    straight, _ = run(tmp_path / "a", 20, None)
    run(tmp_path / "b", 10, None)
    resumed, trainer = run(tmp_path / "b", 20, True)
    assert trainer.state.global_step == 20
    assert [h["step"] for h in trainer.state.log_history if "loss" in h] == [20]  # only steps after 10 ran
    a, b = np.array(straight.scores(PROBE, PROBE_LABELS)), np.array(resumed.scores(PROBE, PROBE_LABELS))
    assert np.abs(a - b).max() <= 1e-5


def test_lora_merge_equals_adapter(tiny_backbone, tmp_path) -> None:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
    before = {n: p.detach().clone() for n, p in clf.model.named_parameters() if "encoder_model" in n}
    trainer = Trainer(clf, _args(tmp_path, max_steps=20, use_lora=True, lora_r=4), train_data=topic_items())
    trainer.train()
    with_adapter = np.array(clf.scores(PROBE, PROBE_LABELS))
    clf.save_pretrained(tmp_path / "merged")
    clf.merge_lora()
    merged = np.array(clf.scores(PROBE, PROBE_LABELS))
    assert np.abs(with_adapter - merged).max() <= 1e-5
    # the merged weights changed (adapters learned something) and carry the official names again
    after = dict(clf.model.named_parameters())
    assert set(before) == {n for n in after if "encoder_model" in n}
    assert any(not torch.equal(before[n], after[n]) for n in before)
    saved = Classifier.from_pretrained(tmp_path / "merged")
    assert np.abs(np.array(saved.scores(PROBE, PROBE_LABELS)) - merged).max() <= 1e-5


def test_single_label_training(tiny_backbone, tmp_path) -> None:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
    trainer = Trainer(clf, _args(tmp_path, loss="softmax", max_steps=160, logging_steps=40), train_data=topic_items())
    trainer.train()
    losses = _losses(trainer)
    # softmax training leaves the symmetric start more slowly than focal/BCE on this tiny backbone
    assert losses[-1] < 0.9 * losses[0], losses


def test_bi_encoder_trains_both_encoders(tiny_backbone, tmp_path) -> None:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", pooling_strategy="avg")
    label_before = {n: p.detach().clone() for n, p in clf.model.model.label_encoder.named_parameters()}
    trainer = Trainer(clf, _args(tmp_path, max_steps=10), train_data=topic_items())
    trainer.train()
    changed = [n for n, p in clf.model.model.label_encoder.named_parameters() if not torch.equal(p, label_before[n])]
    assert changed, "the label encoder received no gradient"
    clf.save_pretrained(tmp_path / "bi")
    again = Classifier.from_pretrained(tmp_path / "bi")
    assert np.abs(np.array(again.scores(PROBE, PROBE_LABELS)) - np.array(clf.scores(PROBE, PROBE_LABELS))).max() <= 1e-6


def test_fit_few_shot_improves_the_task(tiny_backbone) -> None:
    """``fit`` on 8 examples per label raises the probability of the right label on unseen texts."""
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, prompt_first=True, pooling_strategy="avg")
    items = topic_items(16, seed=1)
    truth = ["sports", "finance", "sports", "finance"]

    def mean_true_probability() -> float:
        scores = np.array(clf.scores(PROBE, PROBE_LABELS, multi_label=False))
        return float(np.mean([row[PROBE_LABELS.index(t)] for row, t in zip(scores, truth)]))

    before = mean_true_probability()
    clf.fit([i["text"] for i in items], [i["true_labels"][0] for i in items], epochs=60, learning_rate=3e-3, lora=False)
    after = mean_true_probability()
    assert after > before + 0.1, (before, after)
    assert not clf.model.training
