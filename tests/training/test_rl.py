"""RL trainer: every loss term on hand-computed values, and tiny end-to-end runs (learning, value head, resume)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass.training import RLTrainer, RLTrainingArguments, Trainer, TrainingArguments
from uniclass.training.rl import (
    Rollout,
    accuracy_reward,
    bernoulli_entropy,
    bernoulli_kl,
    bernoulli_log_prob,
    clipped_surrogate,
    compute_rewards,
    f1_reward,
    k3_kl,
    ppo_loss,
    recall_reward,
    resolve_reward_components,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Two texts, three slots; the second text's third slot is padding (its target 1 must be ignored).
ACTIONS = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
TARGETS = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
PROBS = torch.full((2, 3), 0.5)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# ---------------------------------------------------------------- rewards
def test_f1_reward_by_hand() -> None:
    # text 0: tp=1, 2 predicted, 2 true -> 2*1/(2+2); text 1 (real slots 0, 1): tp=1, 2 predicted, 1 true -> 2/3
    assert torch.allclose(f1_reward(PROBS, ACTIONS, TARGETS, MASK), torch.tensor([0.5, 2 / 3]))


def test_recall_reward_by_hand() -> None:
    # text 1 would score 1/2 if its padded positive counted
    assert torch.allclose(recall_reward(PROBS, ACTIONS, TARGETS, MASK), torch.tensor([0.5, 1.0]))


def test_accuracy_reward_by_hand() -> None:
    # text 0: slot 0 right, slots 1-2 wrong -> 1/3; text 1: slot 0 wrong, slot 1 right (slot 2 is padding) -> 1/2
    assert torch.allclose(accuracy_reward(PROBS, ACTIONS, TARGETS, MASK), torch.tensor([1 / 3, 0.5]))


def test_rewards_of_a_text_without_true_labels() -> None:
    actions, targets, mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.zeros(2, 2), torch.ones(2, 2)
    assert f1_reward(PROBS[:, :2], actions, targets, mask).tolist() == [1.0, 0.0]  # a correct "none" is perfect
    assert recall_reward(PROBS[:, :2], actions, targets, mask).tolist() == [1.0, 1.0]


def test_weighted_components_and_user_callables() -> None:
    def always_two(probs, actions, targets, mask):
        return torch.full((actions.shape[0],), 2.0)

    components = resolve_reward_components({"f1": 1.0, "recall": ("recall", 0.5), "mine": (always_two, -0.25)})
    total, parts = compute_rewards(components, PROBS, ACTIONS, TARGETS, MASK)
    expected = torch.tensor([0.5, 2 / 3]) + 0.5 * torch.tensor([0.5, 1.0]) - 0.25 * 2.0
    assert torch.allclose(total, expected)
    assert set(parts) == {"f1", "recall", "mine"} and torch.equal(parts["mine"], torch.full((2,), 2.0))
    assert resolve_reward_components(None)["f1"] == (f1_reward, 1.0)
    with pytest.raises(ValueError, match="unknown reward"):
        resolve_reward_components({"nope": 1.0})


# ---------------------------------------------------------------- policy terms
def test_log_prob_is_bernoulli() -> None:
    logits = torch.tensor([[_logit(0.8), _logit(0.3)]])
    log_prob = bernoulli_log_prob(logits, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(log_prob, torch.tensor([[math.log(0.8), math.log(0.7)]]), atol=1e-6)


@pytest.mark.parametrize(
    ("ratio", "advantage", "expected_loss", "clipped"),
    [
        (1.1, 1.0, -1.1, False),  # inside the range: plain r*A
        (1.5, 1.0, -1.2, True),  # A > 0, r above 1+eps: capped at (1+eps)*A, no gradient
        (0.5, 1.0, -0.5, False),  # A > 0, r below 1-eps: the unclipped (smaller) term is kept
        (1.5, -1.0, 1.5, False),  # A < 0, r above 1+eps: the unclipped (worse) term is kept
        (0.5, -1.0, 0.8, True),  # A < 0, r below 1-eps: floored at (1-eps)*A, no gradient
        (0.9, -2.0, 1.8, False),  # inside the range, negative advantage
    ],
)
def test_clipped_surrogate(ratio: float, advantage: float, expected_loss: float, clipped: bool) -> None:
    # one real slot and one padded slot whose huge ratio must not count
    log_prob = torch.tensor([[math.log(ratio), 5.0]], requires_grad=True)
    old = torch.zeros(1, 2)
    loss, _ = clipped_surrogate(log_prob, old, torch.tensor([advantage]), torch.tensor([[1, 0]]), clip_epsilon=0.2)
    assert loss.item() == pytest.approx(expected_loss, abs=1e-6)
    loss.backward()
    grad = log_prob.grad[0, 0].item()
    assert log_prob.grad[0, 1].item() == 0.0
    assert grad == 0.0 if clipped else grad == pytest.approx(-ratio * advantage, abs=1e-6)


def test_clipped_surrogate_averages_over_real_slots() -> None:
    log_prob = torch.log(torch.tensor([[1.1, 1.0], [0.9, 3.0]]))
    loss, fraction = clipped_surrogate(log_prob, torch.zeros(2, 2), torch.tensor([1.0, -2.0]), torch.tensor([[1, 1], [1, 0]]), 0.2)
    assert loss.item() == pytest.approx(-(1.1 + 1.0 - 1.8) / 3, abs=1e-6)
    assert fraction.item() == 0.0


def test_kl_is_zero_at_the_reference_and_positive_elsewhere() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    mask = torch.tensor([[1, 1, 0]])
    assert bernoulli_kl(logits, logits.clone(), mask).item() == 0.0
    assert k3_kl(logits, logits.clone(), torch.tensor([[1.0, 0.0, 1.0]]), mask).item() == 0.0
    # p = 0.5 against q = 0.25 on slot 0, equal on slot 1: KL = (0.5 ln 2 + 0.5 ln(2/3)) / 2 real slots
    ref = torch.tensor([[_logit(0.25), 2.0, 7.0]])
    assert bernoulli_kl(logits, ref, mask).item() == pytest.approx(0.5 * math.log(4 / 3) / 2, abs=1e-6)
    assert k3_kl(logits, ref, torch.tensor([[1.0, 0.0, 1.0]]), mask).item() > 0


def test_entropy_matches_the_formula() -> None:
    probs = [0.2, 0.5, 0.9]
    logits = torch.tensor([[_logit(p) for p in probs]])
    expected = -np.mean([p * math.log(p) + (1 - p) * math.log(1 - p) for p in probs[:2]])
    assert bernoulli_entropy(logits, torch.tensor([[1, 1, 0]])).item() == pytest.approx(expected, abs=1e-6)


def _rollout(logits: torch.Tensor, ref_logits: torch.Tensor | None) -> Rollout:
    actions = torch.tensor([[1.0, 0.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    return Rollout(actions=actions, old_log_prob=bernoulli_log_prob(logits, actions).detach() - 0.1,
                   advantages=torch.tensor([0.7]), rewards=torch.tensor([1.0]), parts={}, mask=mask, ref_logits=ref_logits)


def test_zero_coefficients_add_exactly_nothing() -> None:
    logits = torch.tensor([[0.3, -1.2, 0.8]])
    rollout = _rollout(logits, ref_logits=torch.tensor([[2.0, 1.0, -3.0]]))
    surrogate, _ = clipped_surrogate(bernoulli_log_prob(logits, rollout.actions), rollout.old_log_prob,
                                     rollout.advantages, rollout.mask, 0.2)
    loss, stats = ppo_loss(logits, rollout, kl_coef=0.0, entropy_coef=0.0)
    assert torch.equal(loss, surrogate)
    assert "kl" not in stats and "entropy" not in stats
    with_terms, stats = ppo_loss(logits, rollout, kl_coef=0.5, entropy_coef=0.1)
    expected = surrogate + 0.5 * bernoulli_kl(logits, rollout.ref_logits, rollout.mask) - 0.1 * bernoulli_entropy(logits, rollout.mask)
    assert with_terms.item() == pytest.approx(expected.item(), abs=1e-6)
    assert stats["kl"] > 0 and stats["entropy"] > 0


def test_negative_coefficients_are_rejected() -> None:
    for bad in ({"kl_coef": -1.0}, {"entropy_coef": -1.0}, {"baseline": "critic"}, {"kl_estimator": "k2"}):
        with pytest.raises(ValueError):
            RLTrainingArguments(output_dir="x", **bad)


# ---------------------------------------------------------------- end to end
def _rl_args(tmp_path, **overrides) -> RLTrainingArguments:
    values = dict(output_dir=str(tmp_path / "rl"), max_steps=4, per_device_train_batch_size=8, learning_rate=5e-4,
                  logging_steps=2, save_steps=0, use_cpu=True, seed=0, lr_scheduler_type="constant")
    values.update(overrides)
    return RLTrainingArguments(**values)


def test_kl_to_the_reference_model_in_the_trainer(tiny_backbone, tmp_path) -> None:
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg", prompt_first=True)
    trainer = RLTrainer(clf, _rl_args(tmp_path, kl_coef=0.1), train_data=topic_items(8))
    batch = trainer._batch(0)
    targets, mask = batch.pop("targets"), batch.pop("label_mask")
    rollout = trainer.rollout(batch, targets, mask)
    logits = trainer.model(**batch)[:, : targets.shape[1]]
    assert bernoulli_kl(logits, rollout.ref_logits, rollout.mask).item() == 0.0  # the policy is the reference
    with torch.no_grad():
        for param in clf.model.model.classes_projector.parameters():
            param.add_(torch.randn_like(param))
    logits = trainer.model(**batch)[:, : targets.shape[1]]
    assert bernoulli_kl(logits, rollout.ref_logits, rollout.mask).item() > 0
    assert all(not p.requires_grad for p in trainer.reference.parameters())


def _expected_f1(clf: Classifier, items: list[dict]) -> float:
    """The policy's exact expected F1 over all action combinations (two labels per text)."""
    labels = items[0]["all_labels"]
    probs = torch.tensor(clf.scores([i["text"] for i in items], labels))
    targets = torch.tensor([[1.0 if label in i["true_labels"] else 0.0 for label in labels] for i in items])
    mask = torch.ones_like(targets)
    total = torch.zeros(len(items))
    for combo in itertools.product([0.0, 1.0], repeat=len(labels)):
        actions = torch.tensor(combo).expand_as(targets)
        chance = (probs * actions + (1 - probs) * (1 - actions)).prod(-1)
        total += chance * f1_reward(probs, actions, targets, mask)
    return total.mean().item()


def test_rl_raises_the_f1_reward(tiny_backbone, tmp_path) -> None:
    """After a few supervised steps (so the policy is not uniform), RL raises the expected per-text F1."""
    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg", prompt_first=True)
    supervised = TrainingArguments(output_dir=str(tmp_path / "sup"), max_steps=40, per_device_train_batch_size=8,
                                   learning_rate=3e-3, save_strategy="no", logging_strategy="no", disable_tqdm=True,
                                   use_cpu=True, seed=0)
    Trainer(clf, supervised, train_data=topic_items()).train()
    held_out = topic_items(16, seed=7)
    before = _expected_f1(clf, held_out)
    state = RLTrainer(clf, _rl_args(tmp_path, max_steps=60, logging_steps=20), train_data=topic_items(seed=1)).train()
    after = _expected_f1(clf, held_out)
    rewards = [h["reward_f1"] for h in state.log_history]
    assert after > before + 0.05, (before, after)
    assert rewards[-1] > rewards[0], rewards
    assert not clf.model.training


def test_value_head_learns_and_resume_is_exact(tiny_backbone, tmp_path) -> None:
    """Value-head baseline + KL + entropy: the value loss falls; 2 steps + resume to 4 == 4 steps in one go."""

    def run(out, max_steps, resume):
        torch.manual_seed(0)
        clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg", prompt_first=True)
        args = _rl_args(out, max_steps=max_steps, save_steps=2, logging_steps=1, baseline="value_head", value_lr=1e-2,
                        kl_coef=0.05, entropy_coef=0.01, per_device_train_batch_size=4, output_dir=str(out))
        trainer = RLTrainer(clf, args, train_data=topic_items(16))
        trainer.train(resume_from_checkpoint=resume)
        return clf, trainer

    straight, trainer = run(tmp_path / "a", 4, None)
    value_losses = [h["value_loss"] for h in trainer.state.log_history]
    assert value_losses[-1] < value_losses[0], value_losses
    assert {"kl", "entropy", "clip_fraction", "reward_f1"} <= set(trainer.state.log_history[-1])
    run(tmp_path / "b", 2, None)
    resumed, trainer = run(tmp_path / "b", 4, True)
    assert trainer.state.global_step == 4 and [h["step"] for h in trainer.state.log_history] == [1, 2, 3, 4]
    a = dict(straight.model.named_parameters())
    for name, param in resumed.model.named_parameters():
        assert torch.allclose(param, a[name], atol=1e-6), name
    reloaded = Classifier.from_pretrained(tmp_path / "b" / "checkpoint-4", device="cpu")
    probe = ["goal team won", "bank shares fell"]
    assert np.allclose(reloaded.scores(probe, ["sports", "finance"]), resumed.scores(probe, ["sports", "finance"]), atol=1e-6)
