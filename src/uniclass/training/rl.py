"""RL training of GLiClass: PPO-style policy gradient over independent per-label yes/no decisions.

Supervised training teaches calibrated per-label probabilities; RL optimises the *decisions* for a reward
(per-text F1 by default), which is what the paper's mid-training stage does (as the official training recipe does).

Per batch (the supervised ``Collator``'s tensors, ``targets`` and ``label_mask``):

1. **Rollout** (once, no gradient): ``p = sigmoid(logits)``; actions ``a ~ Bernoulli(p)`` per real label slot
   (or ``a = p > greedy_threshold``); reward per text ``R = sum_c weight_c * reward_c(probs, a, targets, mask)``;
   advantage ``A = R - baseline`` where the baseline is the batch mean (default) or a small value head;
   ``log pi_old`` of the actions is stored (detached).
2. **Updates** (``num_rl_iters`` optimiser steps on the same rollout):
   ``log pi = a log p + (1 - a) log(1 - p)`` **per slot** (the decisions are independent Bernoullis);
   ``r = exp(log pi - log pi_old)`` per slot; ``L_clip = -min(r A, clip(r, 1-eps, 1+eps) A)`` with the text's
   advantage broadcast over its slots, averaged over all real slots of the batch (padding never counts).
   Per-slot ratios (as the official trainer) keep ``r`` near 1 whatever the label count; a summed log-ratio
   over 50 labels would put almost every text outside the clip range after one step.
   ``loss = L_clip + kl_coef * KL - entropy_coef * H``:

   * ``KL``: per-slot Bernoulli ``KL(pi || pi_ref)`` to a frozen copy of the starting model, computed exactly
     from both probabilities (``kl_estimator="exact"``, default: zero iff the models agree, never negative,
     no sampling noise) or with the k3 estimator ``exp(ref - cur) - (ref - cur) - 1`` at the sampled actions
     (``kl_estimator="k3"``, the official choice); averaged over real slots.
   * ``H``: mean Bernoulli entropy ``-(p log p + (1 - p) log(1 - p))`` over real slots (a bonus: it is
     subtracted).

   A coefficient of 0 disables its term: the term is not computed and adds exactly 0 (the official trainer
   treats ``-1`` as "disabled" yet applies it with a negative sign, §8 item 8). Negative values are rejected.

Rewards are callables ``(probs, actions, targets, mask) -> [B]``; built-ins ``f1``, ``recall``, ``accuracy``.
Targets are binarised at 0.5 (soft targets allowed). Unlike the official F1 reward, a text without true labels
that gets no predicted label scores 1 (the official reward is 0 whatever is predicted, so such texts teach
nothing).

Why an explicit loop and not ``transformers.Trainer``: PPO takes several optimiser steps per rollout, while
the HF loop owns "one batch -> one step" together with accumulation, AMP scaling and accelerate's wrappers;
bending it (the official ``RLTrainer`` ends up overriding ``_inner_training_loop`` anyway) is longer and
harder to trust than the short loop of :class:`RLTrainer`. Checkpoints are still GLiClass folders
(``Classifier.save_pretrained``, LoRA adapters kept unmerged) plus ``rl_state.pt`` (optimiser, scheduler, value
head, RNG states, data position, log), so ``train(resume_from_checkpoint=True)`` continues exactly where a run
stopped. The price: one device, the model's own dtype (no AMP), no gradient accumulation, no DDP.

Dropout is off during RL (the model runs in ``eval()`` mode for rollouts and updates): with dropout the first
ratio would not be 1 and the clip range would be spent on dropout noise.

The value head (``baseline="value_head"``) reads the mask-averaged last hidden states of the text encoder,
captured by a forward hook during the rollout pass (no second encoder pass, no change to the model code). It
lives only in ``rl_state.pt``; the saved GLiClass model is unchanged in layout.

Start RL from a supervised model: with the F1 reward, a policy that cannot yet tell labels apart drifts to
"every label on" (F1 = 2/3 with two labels), where every sample gets the same reward, the advantages vanish
and learning stops (seen on the tiny test task from an untrained head). An entropy bonus keeps the policy
exploring but did not replace a supervised start there.

Example:
    >>> from uniclass import Classifier
    >>> from uniclass.training import RLTrainer, RLTrainingArguments
    >>> clf = Classifier.from_pretrained("runs/pretrain/final")  # doctest: +SKIP
    >>> args = RLTrainingArguments(output_dir="runs/rl", max_steps=500, per_device_train_batch_size=16,
    ...                            kl_coef=0.05, reward_components={"f1": 1.0, "recall": 0.2})
    >>> RLTrainer(clf, args, train_data="rl.jsonl").train()  # doctest: +SKIP
    >>> clf.save_pretrained("models/rl")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import WEIGHTS_FILE
from ..modeling.encoder_decoder import EncoderDecoder
from .args import GLiClassArguments
from .core import TrainData, as_examples, build_augmenter, build_collator, enable_lora, find_checkpoints
from .dataset import TrainingDataset

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier
    from ..modeling import GLiClassModel

logger = logging.getLogger(__name__)

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
STATE_FILE = "rl_state.pt"
LOG_FILE = "rl_log.json"


# ====================================================================== rewards
def _counts(actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per text: true positives, predicted positives, true positives in the targets, real slots."""
    mask = mask.to(actions.dtype)
    predicted = actions * mask
    truth = (targets >= 0.5).to(actions.dtype) * mask
    return (predicted * truth).sum(-1), predicted.sum(-1), truth.sum(-1), mask.sum(-1)


def f1_reward(probs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-text F1 of the chosen labels against the true ones; 1 when both are empty (a correct "none")."""
    tp, predicted, truth, _ = _counts(actions, targets, mask)
    denominator = predicted + truth
    return torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.ones_like(tp))


def recall_reward(
    probs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Per-text recall; 1 for a text without true labels (nothing to miss)."""
    tp, _, truth, _ = _counts(actions, targets, mask)
    return torch.where(truth > 0, tp / truth.clamp(min=1), torch.ones_like(tp))


def accuracy_reward(
    probs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Per-text fraction of real label slots decided correctly (padded slots ignored)."""
    mask = mask.to(actions.dtype)
    correct = (actions == (targets >= 0.5).to(actions.dtype)).to(actions.dtype) * mask
    return correct.sum(-1) / mask.sum(-1).clamp(min=1)


BUILTIN_REWARDS: dict[str, RewardFn] = {"f1": f1_reward, "recall": recall_reward, "accuracy": accuracy_reward}


def resolve_reward_components(spec: Mapping[str, Any] | None) -> dict[str, tuple[RewardFn, float]]:
    """Normalise ``{name: (fn, weight)}``; also accepted: ``{name: weight}`` for a built-in, a built-in name or a
    ``"module:function"`` path instead of ``fn`` (so JSON recipes can name rewards). Default: ``{"f1": 1.0}``."""
    if spec is None:
        return {"f1": (f1_reward, 1.0)}
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"reward_components must be a non-empty dict {{name: (callable, weight)}}, got {spec!r}")
    out: dict[str, tuple[RewardFn, float]] = {}
    for name, value in spec.items():
        fn: Any
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            fn, weight = name, float(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            fn, weight = value[0], float(value[1])
        else:
            raise ValueError(f"reward component {name!r}: expected (callable, weight) or a weight, got {value!r}")
        out[name] = (_resolve_reward_fn(fn, name), weight)
    return out


def _resolve_reward_fn(fn: Any, name: str) -> RewardFn:
    if callable(fn):
        return fn
    if isinstance(fn, str) and fn in BUILTIN_REWARDS:
        return BUILTIN_REWARDS[fn]
    if isinstance(fn, str) and ":" in fn:
        module, _, attr = fn.partition(":")
        return getattr(importlib.import_module(module), attr)
    raise ValueError(f"reward component {name!r}: unknown reward {fn!r} (built-ins: {sorted(BUILTIN_REWARDS)})")


def compute_rewards(
    components: Mapping[str, tuple[RewardFn, float]],
    probs: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted sum ``[B]`` of the reward components, and each component ``[B]`` (unweighted, for logs)."""
    parts: dict[str, torch.Tensor] = {}
    total = torch.zeros(actions.shape[0], device=actions.device)
    for name, (fn, weight) in components.items():
        value = torch.as_tensor(fn(probs, actions, targets, mask), device=actions.device, dtype=total.dtype).reshape(-1)
        if value.shape[0] != actions.shape[0]:
            raise ValueError(
                f"reward {name!r} returned {tuple(value.shape)}; expected one value per text ({actions.shape[0]})"
            )
        parts[name] = value
        total = total + weight * value
    return total, parts


# ====================================================================== policy terms
def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real slots only."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def bernoulli_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Per-slot ``a log p + (1 - a) log(1 - p)`` from logits (logsigmoid: no ``log(0)``)."""
    return actions * F.logsigmoid(logits) + (1 - actions) * F.logsigmoid(-logits)


def clipped_surrogate(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_epsilon: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO loss ``-min(r A, clip(r, 1-eps, 1+eps) A)`` per slot, averaged over real slots; and the clipped share."""
    ratio = torch.exp(log_prob - old_log_prob)
    adv = advantages.reshape(-1, 1).to(ratio.dtype)
    unclipped = ratio * adv
    clipped = ratio.clamp(1 - clip_epsilon, 1 + clip_epsilon) * adv
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    clip_fraction = masked_mean(((ratio - 1).abs() > clip_epsilon).to(ratio.dtype), mask).detach()
    return loss, clip_fraction


def bernoulli_kl(logits: torch.Tensor, ref_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Exact per-slot ``KL(Bern(p) || Bern(q))``, ``p`` from the policy, ``q`` from the reference; real-slot mean."""
    p = torch.sigmoid(logits)
    kl = p * (F.logsigmoid(logits) - F.logsigmoid(ref_logits)) + (1 - p) * (
        F.logsigmoid(-logits) - F.logsigmoid(-ref_logits)
    )
    return masked_mean(kl, mask)


def k3_kl(logits: torch.Tensor, ref_logits: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The k3 estimator ``exp(ref - cur) - (ref - cur) - 1`` of the log-probs at the sampled actions (official)."""
    delta = bernoulli_log_prob(ref_logits, actions) - bernoulli_log_prob(logits, actions)
    return masked_mean(torch.exp(delta) - delta - 1, mask)


def bernoulli_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real slots of ``-(p log p + (1 - p) log(1 - p))``."""
    p = torch.sigmoid(logits)
    entropy = -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits))
    return masked_mean(entropy, mask)


@dataclass
class Rollout:
    """What one batch's sampling fixed for its ``num_rl_iters`` updates (all detached)."""

    actions: torch.Tensor  # [B, K], 0 on padded slots
    old_log_prob: torch.Tensor  # [B, K]
    advantages: torch.Tensor  # [B]
    rewards: torch.Tensor  # [B]
    parts: dict[str, torch.Tensor]
    mask: torch.Tensor  # [B, K]
    ref_logits: torch.Tensor | None = None
    features: torch.Tensor | None = None  # value-head input [B, D]


def ppo_loss(
    logits: torch.Tensor,
    rollout: Rollout,
    *,
    clip_epsilon: float = 0.2,
    kl_coef: float = 0.0,
    entropy_coef: float = 0.0,
    kl_estimator: str = "exact",
) -> tuple[torch.Tensor, dict[str, float]]:
    """``L_clip + kl_coef * KL - entropy_coef * H``; terms with a zero coefficient are not computed at all."""
    log_prob = bernoulli_log_prob(logits, rollout.actions)
    loss, clip_fraction = clipped_surrogate(
        log_prob, rollout.old_log_prob, rollout.advantages, rollout.mask, clip_epsilon
    )
    stats = {"policy_loss": loss.item(), "clip_fraction": clip_fraction.item()}
    if kl_coef:
        if rollout.ref_logits is None:
            raise ValueError("kl_coef > 0 needs the reference model's logits")
        if kl_estimator == "k3":
            kl = k3_kl(logits, rollout.ref_logits, rollout.actions, rollout.mask)
        else:
            kl = bernoulli_kl(logits, rollout.ref_logits, rollout.mask)
        loss = loss + kl_coef * kl
        stats["kl"] = kl.item()
    if entropy_coef:
        entropy = bernoulli_entropy(logits, rollout.mask)
        loss = loss - entropy_coef * entropy
        stats["entropy"] = entropy.item()
    return loss, stats


# ====================================================================== value head
class ValueHead(nn.Module):
    """Predicts a text's reward from its mean-pooled encoder states (detached): the baseline ``V(s)``."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def _text_encoder(model: GLiClassModel) -> nn.Module:
    inner = model.model
    if isinstance(inner, EncoderDecoder):
        return inner.encoder_decoder_model.get_encoder()
    return inner.encoder_model


@contextmanager
def pooled_text_states(model: GLiClassModel) -> Iterator[list[torch.Tensor]]:
    """Capture the mask-averaged last hidden states of the model's text encoder during a forward pass.

    A forward hook instead of a second encoder pass: the rollout forward already computes them. The first
    call of the encoder is the text pass in every architecture (bi-encoders encode labels with their own
    encoder).
    """
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if captured:
            return
        hidden = output[0] if isinstance(output, (tuple, list)) or hasattr(output, "last_hidden_state") else output
        mask = kwargs.get("attention_mask")
        if mask is None:
            captured.append(hidden.mean(dim=1).detach().float())
            return
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        captured.append(((hidden * weights).sum(1) / weights.sum(1).clamp(min=1)).detach().float())

    handle = _text_encoder(model).register_forward_hook(hook, with_kwargs=True)
    try:
        yield captured
    finally:
        handle.remove()


# ====================================================================== arguments
@dataclass
class RLTrainingArguments(GLiClassArguments):
    """Arguments of :class:`RLTrainer`. Shared names mean what they mean in ``TrainingArguments``.

    The GLiClass fields (head learning rate and decay, window, augmentation including label descriptions and
    synonyms, LoRA) come from :class:`~uniclass.training.args.GLiClassArguments`, shared with
    ``TrainingArguments``. The schedule fields below carry the names of ``transformers.TrainingArguments``
    with the RL loop's own defaults (the RL loop is not a ``transformers.Trainer``).

    Args:
        learning_rate: encoder learning rate, as in ``TrainingArguments`` (two parameter groups: encoder and
            head; head LR defaults to 3x).
        weight_decay: encoder weight decay, as in ``TrainingArguments``.
        max_steps: number of batches (rollouts); each makes ``num_rl_iters`` optimiser steps. ``-1``: use
            ``num_train_epochs``.
        warmup_steps: optimiser steps of warm-up; a value in (0, 1) is a ratio of all optimiser steps.
        save_steps: checkpoint every N batches into ``output_dir/checkpoint-N`` (0: never).
        clip_epsilon: PPO clip range.
        num_rl_iters: optimiser steps per rollout.
        kl_coef: weight of the KL penalty to the frozen starting model (0: off, no reference copy is kept).
        kl_estimator: ``"exact"`` Bernoulli KL (default) or ``"k3"`` (official estimator).
        entropy_coef: weight of the entropy bonus (0: off).
        baseline: ``"mean"`` (batch-mean reward) or ``"value_head"`` (MLP on pooled encoder states, MSE,
            own Adam optimiser with ``value_lr``).
        reward_components: ``{name: (callable | builtin | "module:fn", weight)}`` or ``{builtin: weight}``;
            default ``{"f1": 1.0}``.
        greedy_threshold: if set, actions are ``p > threshold`` instead of samples (no exploration).
        use_cpu: train on CPU even when CUDA is available (otherwise the best device).
    """

    output_dir: str
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    lr_scheduler_type: str = "linear"
    warmup_steps: float = 0
    max_grad_norm: float = 1.0
    seed: int = 42
    logging_steps: int = 50
    save_steps: int = 500
    save_total_limit: int | None = None
    use_cpu: bool = False
    # RL
    clip_epsilon: float = 0.2
    num_rl_iters: int = 3
    kl_coef: float = 0.0
    kl_estimator: str = "exact"
    entropy_coef: float = 0.0
    baseline: str = "mean"
    value_lr: float = 1e-3
    value_hidden_size: int = 64
    reward_components: dict[str, Any] | None = field(default=None)
    greedy_threshold: float | None = None

    def __post_init__(self) -> None:
        self._default_head_learning_rate()
        self._check_schedule()
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ValueError("kl_coef and entropy_coef must be >= 0 (0 disables the term)")
        if self.baseline not in ("mean", "value_head"):
            raise ValueError(f"baseline must be 'mean' or 'value_head', got {self.baseline!r}")
        if self.kl_estimator not in ("exact", "k3"):
            raise ValueError(f"kl_estimator must be 'exact' or 'k3', got {self.kl_estimator!r}")
        if self.num_rl_iters < 1 or not 0 < self.clip_epsilon < 1:
            raise ValueError("num_rl_iters must be >= 1 and clip_epsilon in (0, 1)")
        if self.greedy_threshold is not None and not 0 <= self.greedy_threshold <= 1:
            raise ValueError("greedy_threshold must be in [0, 1]")
        if self.baseline == "mean" and self.per_device_train_batch_size < 2:
            logger.warning("baseline='mean' with batch size 1 gives zero advantages: nothing is learned")
        resolve_reward_components(self.reward_components)  # fail early on a bad spec

    def to_json(self) -> dict[str, Any]:
        """JSON-safe view (callables by name), stored next to checkpoints."""
        out = dict(self.__dict__)
        if self.reward_components is not None:
            out["reward_components"] = {k: repr(v) for k, v in self.reward_components.items()}
        return out


@dataclass
class RLState:
    global_step: int = 0
    log_history: list[dict[str, float]] = field(default_factory=list)


# ====================================================================== trainer
class RLTrainer:
    """PPO-style RL fine-tuning of a :class:`~uniclass.Classifier` (see the module docstring)."""

    def __init__(self, classifier: Classifier, args: RLTrainingArguments, train_data: TrainData):
        self.classifier = classifier
        self.args = args
        self.device = torch.device("cpu") if args.use_cpu else _best_device()
        classifier.to(self.device)
        examples = as_examples(train_data)
        if not examples:
            raise ValueError("RLTrainer: no training data")
        self.augmenter = build_augmenter(examples, args)
        self.dataset = TrainingDataset(examples, self.augmenter)
        self.rewards = resolve_reward_components(args.reward_components)
        # The reference is the model as given, copied before LoRA wraps it; on resume the same starting model
        # is passed in and the checkpoint weights are loaded afterwards, so the reference stays the start.
        self.reference = _frozen_copy(classifier.model) if args.kl_coef else None
        enable_lora(classifier, args)
        self.model = classifier.model
        self.collator = build_collator(classifier, args)
        self.batches_per_epoch = math.ceil(len(self.dataset) / args.per_device_train_batch_size)
        self.total_steps = (
            args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * self.batches_per_epoch)
        )
        self.optimizer = torch.optim.AdamW(args.param_groups(self.model))
        self.scheduler = _scheduler(self.optimizer, args, self.total_steps * args.num_rl_iters)
        self.value_head: ValueHead | None = None
        self.value_optimizer: torch.optim.Optimizer | None = None
        if args.baseline == "value_head":
            with torch.random.fork_rng(devices=[]):  # a seeded head without touching the global RNG
                torch.manual_seed(args.seed)
                self.value_head = ValueHead(classifier.config.encoder_hidden_size, args.value_hidden_size).to(
                    self.device
                )
            self.value_optimizer = torch.optim.Adam(self.value_head.parameters(), lr=args.value_lr)
        self.state = RLState()
        self._window: list[dict[str, float]] = []

    # ------------------------------------------------------------------ loop
    def train(self, resume_from_checkpoint: str | Path | bool | None = None) -> RLState:
        """Run to ``total_steps`` batches; ``resume_from_checkpoint=True`` picks the latest ``checkpoint-N``."""
        checkpoint = self._find_checkpoint(resume_from_checkpoint)
        if checkpoint is not None:
            self._load_checkpoint(checkpoint)
        else:
            torch.manual_seed(self.args.seed)
        self.model.eval()  # dropout off for rollouts *and* updates (see the module docstring)
        try:
            while self.state.global_step < self.total_steps:
                stats = self.step(self._batch(self.state.global_step))
                self.state.global_step += 1
                self._log(stats)
                if self.args.save_steps and self.state.global_step % self.args.save_steps == 0:
                    self.save_checkpoint()
        finally:
            self.model.eval()
            self.classifier.reset_caches()  # cached bi-encoder label vectors are stale after training
        return self.state

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One rollout and its ``num_rl_iters`` updates; returns the batch's statistics."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        targets, mask = batch.pop("targets"), batch.pop("label_mask")
        rollout = self.rollout(batch, targets, mask)
        args = self.args
        totals: dict[str, float] = {}
        for _ in range(args.num_rl_iters):
            logits = self.model(**batch)[:, : targets.shape[1]].float()
            loss, stats = ppo_loss(
                logits,
                rollout,
                clip_epsilon=args.clip_epsilon,
                kl_coef=args.kl_coef,
                entropy_coef=args.entropy_coef,
                kl_estimator=args.kl_estimator,
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            for key, value in {"loss": loss.item(), **stats}.items():
                totals[key] = totals.get(key, 0.0) + value / args.num_rl_iters
        out = {
            "reward": rollout.rewards.mean().item(),
            **{f"reward_{k}": v.mean().item() for k, v in rollout.parts.items()},
        }
        if self.value_head is not None:
            out["value_loss"] = self._update_value_head(rollout)
        return {**out, **totals, "learning_rate": self.scheduler.get_last_lr()[0]}

    def rollout(self, batch: dict[str, torch.Tensor], targets: torch.Tensor, mask: torch.Tensor) -> Rollout:
        """Sample decisions with the current policy, score them, and fix ``log pi_old`` and the advantages."""
        mask = mask.to(torch.float32)
        with torch.no_grad():
            if self.value_head is not None:
                with pooled_text_states(self.model) as captured:
                    logits = self.model(**batch)[:, : targets.shape[1]].float()
                features = captured[0]
            else:
                logits, features = self.model(**batch)[:, : targets.shape[1]].float(), None
            probs = torch.sigmoid(logits)
            if self.args.greedy_threshold is not None:
                actions = (probs > self.args.greedy_threshold).float()
            else:
                actions = torch.bernoulli(probs)
            actions = actions * mask
            rewards, parts = compute_rewards(self.rewards, probs, actions, targets, mask)
            baseline = self.value_head(features) if self.value_head is not None else rewards.mean()
            ref_logits = self.reference(**batch)[:, : targets.shape[1]].float() if self.reference is not None else None
        return Rollout(
            actions=actions,
            old_log_prob=bernoulli_log_prob(logits, actions),
            advantages=rewards - baseline,
            rewards=rewards,
            parts=parts,
            mask=mask,
            ref_logits=ref_logits,
            features=features,
        )

    def _update_value_head(self, rollout: Rollout) -> float:
        assert self.value_head is not None and self.value_optimizer is not None and rollout.features is not None
        self.value_head.train()
        loss = F.mse_loss(self.value_head(rollout.features), rollout.rewards)
        self.value_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.value_optimizer.step()
        return loss.item()

    def _batch(self, step: int) -> dict[str, torch.Tensor]:
        """Batch ``step`` of a seeded per-epoch permutation (so a resumed run sees the same order)."""
        epoch, index = divmod(step, self.batches_per_epoch)
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.args.seed + epoch))
        size = self.args.per_device_train_batch_size
        return self.collator([self.dataset[int(i)] for i in order[index * size : (index + 1) * size]])

    def _log(self, stats: dict[str, float]) -> None:
        self._window.append(stats)
        if self.args.logging_steps and self.state.global_step % self.args.logging_steps == 0:
            keys = {k for s in self._window for k in s}
            entry = {
                k: sum(s[k] for s in self._window if k in s) / sum(k in s for s in self._window) for k in sorted(keys)
            }
            entry["step"] = self.state.global_step
            self.state.log_history.append(entry)
            self._window = []
            logger.info("rl step %d: %s", self.state.global_step, entry)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """``checkpoint-N``: the GLiClass folder (LoRA unmerged, to resume) plus ``rl_state.pt``."""
        output = Path(self.args.output_dir)
        folder = output / f"checkpoint-{self.state.global_step}"
        self.classifier.save_pretrained(folder, merge_lora=False)
        torch.save(
            {
                "global_step": self.state.global_step,
                "log_history": self.state.log_history,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "value_head": self.value_head.state_dict() if self.value_head is not None else None,
                "value_optimizer": self.value_optimizer.state_dict() if self.value_optimizer is not None else None,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "augmenter_rng": self.augmenter.rng.getstate(),
            },
            folder / STATE_FILE,
        )
        (folder / LOG_FILE).write_text(
            json.dumps(
                {
                    "global_step": self.state.global_step,
                    "log_history": self.state.log_history,
                    "args": self.args.to_json(),
                },
                indent=1,
                default=str,
            )
        )
        self._rotate(output)
        return folder

    def _load_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.model.load_state_dict_checked(load_file(str(folder / WEIGHTS_FILE)))
        state = torch.load(folder / STATE_FILE, weights_only=False, map_location="cpu")  # optimisers move their state
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.value_head is not None and state["value_head"] is not None:
            self.value_head.load_state_dict(state["value_head"])
            self.value_optimizer.load_state_dict(state["value_optimizer"])  # type: ignore[union-attr]
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.augmenter.rng.setstate(state["augmenter_rng"])
        self.state = RLState(state["global_step"], list(state["log_history"]))
        logger.info("resumed RL training from %s (step %d)", folder, self.state.global_step)

    def _find_checkpoint(self, resume: str | Path | bool | None) -> Path | None:
        if not resume:
            return None
        if resume is True:
            found = checkpoints(Path(self.args.output_dir))
            if not found:
                raise FileNotFoundError(f"no checkpoint-* with {STATE_FILE} in {self.args.output_dir} to resume from")
            return found[-1]
        return Path(resume)

    def _rotate(self, output: Path) -> None:
        limit = self.args.save_total_limit
        if limit:
            for old in checkpoints(output)[:-limit]:
                shutil.rmtree(old, ignore_errors=True)


# ====================================================================== helpers
def checkpoints(output: Path) -> list[Path]:
    """Complete RL checkpoints in ``output``, oldest first."""
    return find_checkpoints(output, STATE_FILE)


def _scheduler(optimizer: torch.optim.Optimizer, args: RLTrainingArguments, total: int) -> Any:
    from transformers import get_scheduler

    warmup = args.warmup_steps
    warmup_steps = math.ceil(warmup * total) if 0 < warmup < 1 else int(warmup)
    return get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total)


def _frozen_copy(model: nn.Module) -> nn.Module:
    reference = copy.deepcopy(model).eval()
    for param in reference.parameters():
        param.requires_grad_(False)
    return reference


def _best_device() -> torch.device:
    from ..backends.torch_backend import resolve_device

    return resolve_device("auto")
