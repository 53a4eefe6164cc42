"""EWC: the empirical Fisher, the quadratic penalty around the anchor, LoRA, and the Trainer option."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass.data.formats import load_examples
from uniclass.training import EWCPenalty, Trainer, TrainingArguments, compute_fisher
from uniclass.training.collator import Collator
from uniclass.training.dataset import TrainingDataset
from uniclass.training.losses import FocalLoss
from uniclass.modeling.lora import merged_copy

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _classifier(tiny_backbone) -> Classifier:
    torch.manual_seed(0)
    return Classifier.from_backbone(tiny_backbone, pooling_strategy="avg", prompt_first=True)


def test_fisher_is_the_mean_squared_per_text_gradient(tiny_backbone) -> None:
    clf = _classifier(tiny_backbone)
    examples = load_examples(topic_items(2))
    fisher = compute_fisher(clf, examples, max_length=64, samples=2)
    # by hand: one backward per text, squared, averaged
    collator = Collator(clf.config, clf.tokenizer, max_length=64)
    dataset = TrainingDataset(examples)
    expected = {name: torch.zeros_like(p) for name, p in clf.model.named_parameters()}
    for i in range(2):
        batch = collator([dataset[i]])
        targets, mask = batch.pop("targets"), batch.pop("label_mask")
        clf.model.zero_grad()
        FocalLoss(alpha=-1.0, gamma=0.0)(clf.model(**batch)[:, :2], targets, mask).backward()
        for name, p in clf.model.named_parameters():
            if p.grad is not None:
                expected[name] += p.grad**2 / 2
    assert set(fisher) == set(expected)
    for name in fisher:
        assert torch.allclose(fisher[name], expected[name], rtol=1e-4, atol=1e-12), name


def test_fisher_is_non_negative_and_zero_without_gradient(tiny_backbone) -> None:
    clf = _classifier(tiny_backbone)
    clf.model.model.text_projector.linear_1.bias.requires_grad_(False)  # frozen: no gradient either
    items = topic_items(8)
    fisher = compute_fisher(clf, load_examples(items), max_length=64, samples=8)
    assert all(bool((f >= 0).all()) for f in fisher.values())
    # unused by the forward pass: BERT's pooler (the text is avg-pooled) and logit_scale (no normalize_features)
    for name in ("model.encoder_model.pooler.dense.weight", "model.logit_scale", "model.text_projector.linear_1.bias"):
        assert bool((fisher[name] == 0).all()), name
    # embedding rows of tokens that never occur in the data get no gradient; the others do
    dataset = TrainingDataset(load_examples(items))
    inputs = Collator(clf.config, clf.tokenizer, max_length=64)([dataset[i] for i in range(len(items))])["input_ids"]
    seen = set(inputs.flatten().tolist())
    rows = fisher["model.encoder_model.embeddings.word_embeddings.weight"].sum(-1)
    unseen = [t for t in range(rows.shape[0]) if t not in seen]
    assert bool((rows[unseen] == 0).all())
    assert bool((rows[sorted(seen)] > 0).any())
    assert bool((fisher["model.classes_projector.linear_2.weight"] > 0).any())


def test_penalty_is_zero_at_the_anchor_and_quadratic(tiny_backbone) -> None:
    clf = _classifier(tiny_backbone)
    penalty = EWCPenalty.from_data(clf, load_examples(topic_items(8)), lam=10.0, samples=8, max_length=64)
    assert penalty(clf.model).item() == 0.0
    assert "model.encoder_model.pooler.dense.weight" not in penalty.fisher  # F = 0 entries are dropped
    param = clf.model.model.classes_projector.linear_2.weight
    anchor = param.detach().clone()
    direction = torch.randn_like(param) * 0.01
    with torch.no_grad():
        param.copy_(anchor + direction)
    once = penalty(clf.model).item()
    with torch.no_grad():
        param.copy_(anchor + 2 * direction)
    twice = penalty(clf.model).item()
    by_hand = 0.5 * 10.0 * (penalty.fisher["model.classes_projector.linear_2.weight"] * direction**2).sum().item()
    assert once > 0 and once == pytest.approx(by_hand, rel=1e-4)
    assert twice == pytest.approx(4 * once, rel=1e-4)


def _sports_is_finance(n: int) -> list[dict]:
    """The topic task with swapped labels: training on it pulls the weights away from the first task."""
    items = topic_items(n, seed=3)
    return [{**i, "true_labels": ["finance" if i["true_labels"] == ["sports"] else "sports"]} for i in items]


def _train(tiny_backbone, tmp_path, ewc_lambda: float, **extra) -> tuple[Classifier, dict[str, torch.Tensor], Trainer]:
    clf = _classifier(tiny_backbone)
    anchor = {name: p.detach().clone() for name, p in clf.model.named_parameters()}
    args = TrainingArguments(output_dir=str(tmp_path / f"ewc{ewc_lambda}"), max_steps=20, per_device_train_batch_size=8,
                             learning_rate=3e-3, save_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True,
                             seed=0, ewc_lambda=ewc_lambda, ewc_samples=32, max_length=64, **extra)
    previous = topic_items(32) if ewc_lambda else None
    trainer = Trainer(clf, args, train_data=_sports_is_finance(32), previous_data=previous)
    trainer.train()
    return clf, anchor, trainer


def test_large_lambda_keeps_the_weights_near_the_anchor(tiny_backbone, tmp_path) -> None:
    free, anchor, _ = _train(tiny_backbone, tmp_path, 0.0)
    # an untrained head has a tiny Fisher (squared gradients ~1e-8), hence the large lambda
    held, _, trainer = _train(tiny_backbone, tmp_path, 1e6)
    assert trainer.ewc is not None and trainer.ewc.lam == 1e6
    fisher = trainer.ewc.fisher  # measured at the same starting weights in both runs

    def distances(clf: Classifier) -> tuple[float, float]:
        params = dict(clf.model.named_parameters())
        weighted = sum((fisher[n] * (params[n] - anchor[n]) ** 2).sum().item() for n in fisher)
        plain = sum(((params[n] - anchor[n]) ** 2).sum().item() for n in fisher)
        return weighted, plain

    (free_weighted, free_plain), (held_weighted, held_plain) = distances(free), distances(held)
    assert held_weighted < 0.1 * free_weighted, (held_weighted, free_weighted)
    assert held_plain < 0.8 * free_plain, (held_plain, free_plain)


def test_ewc_with_lora_penalises_the_merged_weights(tiny_backbone, tmp_path) -> None:
    """The post-training case: the Fisher is taken before LoRA; the penalty sees base + adapter delta."""
    clf, _, trainer = _train(tiny_backbone, tmp_path, 10.0, use_lora=True, lora_r=2)
    penalty = trainer.ewc
    assert all(".base_layer." not in n and "lora_" not in n for n in penalty.fisher)
    with_adapters = penalty(clf.model).item()
    merged = penalty(merged_copy(clf.model)).item()
    assert with_adapters > 0
    assert with_adapters == pytest.approx(merged, rel=1e-4)


def test_trainer_needs_previous_data_for_ewc(tiny_backbone, tmp_path) -> None:
    clf = _classifier(tiny_backbone)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, use_cpu=True, ewc_lambda=1.0)
    with pytest.raises(ValueError, match="previous_data"):
        Trainer(clf, args, train_data=topic_items(4))
