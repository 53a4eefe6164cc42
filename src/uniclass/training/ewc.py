"""Elastic Weight Consolidation: keep the weights that mattered for a previous dataset close to where they were.

A later training stage (e.g. LoRA post-training on a narrow logic/NLI stream) can overwrite what the earlier
stages learned. EWC adds ``lambda / 2 * sum_i F_i * (theta_i - theta*_i) ** 2`` to the loss, where ``theta*``
are the weights at the start of the stage (the anchor) and ``F`` is the diagonal *empirical* Fisher of the
supervised loss on the previous data at ``theta*``: the mean over ``samples`` texts of the squared per-text
gradient. Per-text gradients (batch size 1) matter: squaring a batch gradient would let texts cancel out and
underestimate the Fisher. No normalisation is applied (the official ``ewc_normalize_fisher`` rescales by the
maximum), so ``lambda`` multiplies the plain Fisher; parameters that get no gradient on the previous data
have ``F = 0`` and are free.

With LoRA the backbone weights are frozen and the change of a wrapped layer is its adapter delta ``B A * s``;
the penalty uses the effective weight ``base + delta``, so EWC and LoRA combine (the recipe's ``post`` stage)
and give the same penalty as the merged model would. The Fisher must therefore be computed *before* LoRA is
enabled (``Trainer`` does so).

Usage (supervised ``Trainer``)::

    args = TrainingArguments(output_dir="runs/post", ewc_lambda=1000.0, ewc_samples=256, use_lora=True)
    Trainer(clf, args, train_data="post.jsonl", previous_data="pretrain.jsonl").train()

or directly: ``penalty = EWCPenalty.from_data(clf, examples, lam=1000.0)``; ``loss = loss + penalty(clf.model)``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.formats import Example
from .collator import Collator
from .dataset import TrainingDataset
from .losses import FocalLoss

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

LossFn = Any  # (logits [B, K], targets [B, K], mask [B, K]) -> scalar tensor


def compute_fisher(
    classifier: Classifier,
    examples: Sequence[Example],
    max_length: int = 512,
    samples: int = 256,
    *,
    loss_fn: LossFn | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher ``{parameter name: F}`` of ``loss_fn`` (default: masked BCE) at the current weights.

    ``samples`` texts are drawn (seeded) from ``examples``; every parameter of the model gets an entry, zeros
    for those the loss does not reach (frozen ones included). Dropout is off while the Fisher is measured.
    """
    from ..modeling.lora import has_lora

    model = classifier.model
    if has_lora(model):
        raise ValueError("compute_fisher: compute the Fisher before enabling LoRA (parameter names change)")
    if not examples:
        raise ValueError("compute_fisher: no examples")
    loss_fn = loss_fn or FocalLoss(alpha=-1.0, gamma=0.0)
    chosen = random.Random(seed).sample(range(len(examples)), min(samples, len(examples)))
    dataset = TrainingDataset([examples[i] for i in chosen])
    collator = Collator(
        classifier.config,
        classifier.tokenizer,
        classifier.label_tokenizer,
        max_length=min(max_length, classifier.max_length),
    )
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    fisher = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    try:
        for index in range(len(dataset)):
            grads = _gradients(model, collator([dataset[index]]), loss_fn, [p for _, p in named])
            for (name, _), grad in zip(named, grads, strict=True):
                if grad is not None:
                    fisher[name] += grad.detach().float() ** 2
    finally:
        model.train(was_training)
    return {name: value / len(dataset) for name, value in fisher.items()}


def _gradients(model: nn.Module, batch: dict[str, torch.Tensor], loss_fn: LossFn, params: list[nn.Parameter]) -> tuple:
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    targets, mask = batch.pop("targets"), batch.pop("label_mask")
    logits = model(**batch)[:, : targets.shape[1]]
    loss = loss_fn(logits, targets, mask)
    return torch.autograd.grad(loss, params, allow_unused=True)


class EWCPenalty:
    """``lam / 2 * sum_i F_i (theta_i - anchor_i) ** 2`` over the parameters with a non-zero Fisher."""

    def __init__(self, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor], lam: float):
        self.lam = lam
        self.fisher = {name: f for name, f in fisher.items() if bool((f != 0).any())}  # F = 0: nothing to keep
        self.anchor = {name: anchor[name].detach().clone().float() for name in self.fisher}

    @classmethod
    def from_data(
        cls,
        classifier: Classifier,
        examples: Sequence[Example],
        *,
        lam: float,
        samples: int = 256,
        max_length: int = 512,
        loss_fn: LossFn | None = None,
        seed: int = 0,
    ) -> EWCPenalty:
        """Fisher on ``examples`` at the classifier's current weights, which become the anchor."""
        fisher = compute_fisher(classifier, examples, max_length, samples, loss_fn=loss_fn, seed=seed)
        anchor = {name: p.detach() for name, p in classifier.model.named_parameters()}
        return cls(fisher, anchor, lam)

    def __call__(self, model: nn.Module) -> torch.Tensor:
        total = torch.zeros((), device=next(model.parameters()).device)
        for name, value in effective_weights(model):
            if name in self.fisher:
                fisher = self.fisher[name].to(value.device)
                anchor = self.anchor[name].to(value.device)
                total = total + (fisher * (value.float() - anchor) ** 2).sum()
        return 0.5 * self.lam * total


def plain_name(name: str) -> str:
    """The parameter name without peft's wrapping (``.base_model.model.``, ``.base_layer.``)."""
    return name.replace(".base_model.model.", ".").replace(".base_layer.", ".")


def effective_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(plain name, tensor)`` of every weight as the network uses it: a LoRA layer's weight is base + delta."""
    lora_layers = {
        plain_name(name) + ".weight": module
        for name, module in model.named_modules()
        if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer")
    }
    out: list[tuple[str, torch.Tensor]] = []
    for name, param in model.named_parameters():
        key = plain_name(name)
        if "lora_" in name or key in lora_layers:
            continue
        out.append((key, param))
    for key, module in lora_layers.items():
        weight = module.base_layer.weight
        if not getattr(module, "merged", False):
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    weight = weight + module.get_delta_weight(adapter)
        out.append((key, weight))
    return out
