"""Training: arguments, data augmentation, collator, losses, LoRA, the Trainer, RL, EWC and multi-stage recipes."""

from __future__ import annotations

from .args import TrainingArguments
from .ewc import EWCPenalty, compute_fisher
from .rl import RLTrainer, RLTrainingArguments
from .stages import run_stages
from .trainer import Trainer

__all__ = [
    "EWCPenalty",
    "RLTrainer",
    "RLTrainingArguments",
    "Trainer",
    "TrainingArguments",
    "compute_fisher",
    "run_stages",
]
