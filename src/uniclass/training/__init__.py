"""Training: arguments, data augmentation, collator, losses, LoRA and the Trainer."""

from __future__ import annotations

from .args import TrainingArguments
from .trainer import Trainer

__all__ = ["Trainer", "TrainingArguments"]
