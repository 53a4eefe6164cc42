"""What both training loops share: data loading, augmentation, the collator and checkpoint discovery.

The supervised ``Trainer`` (on ``transformers.Trainer``) and the ``RLTrainer`` (its own PPO loop) differ in
their loops only; everything they read from the arguments and the classifier is built here, once, so an
option added for one loop reaches the other. Parameter groups are defined by the model itself
(``GLiClassModel.param_groups``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.formats import Example, load_training_examples
from .collator import Collator
from .dataset import LabelAugmenter, load_label_descriptions

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier
    from .args import GLiClassArguments, TrainingArguments
    from .rl import RLTrainingArguments

TrainData = str | Path | Iterable[Mapping[str, Any]] | list[Example]


def as_examples(data: TrainData | None) -> list[Example]:
    """Training items from a file, an iterable of dicts or a list of ``Example`` (used as is)."""
    if data is None:
        return []
    if isinstance(data, list) and data and isinstance(data[0], Example):
        return data
    return load_training_examples(data)  # type: ignore[arg-type]


def build_augmenter(examples: list[Example], args: TrainingArguments | RLTrainingArguments) -> LabelAugmenter:
    """The label augmenter both loops use, configured from the shared augmentation arguments."""
    descriptions = load_label_descriptions(args.label_descriptions_file) if args.label_descriptions_file else None
    return LabelAugmenter(
        examples,
        shuffle_labels=args.shuffle_labels,
        negatives_per_item=args.negatives_per_item,
        remove_labels_prob=args.remove_labels_prob,
        add_examples_prob=args.add_examples_prob,
        label_descriptions=descriptions,
        add_descriptions_prob=args.add_descriptions_prob,
        synonyms_prob=args.synonyms_prob,
        seed=args.seed,
    )


def build_collator(classifier: Classifier, args: GLiClassArguments) -> Collator:
    """The training collator, with the window capped by both the arguments and the classifier."""
    return Collator(
        classifier.config,
        classifier.tokenizer,
        classifier.label_tokenizer,
        max_length=min(args.max_length, classifier.max_length),
    )


def enable_lora(classifier: Classifier, args: GLiClassArguments) -> None:
    """LoRA adapters on the encoder(s) when ``args.use_lora``."""
    if args.use_lora:
        classifier.enable_lora(
            r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout, target_modules=args.lora_target_modules
        )


def find_checkpoints(output: Path, marker: str) -> list[Path]:
    """Complete ``checkpoint-N`` folders in ``output`` (those holding ``marker``), oldest first.

    ``marker`` is the file a loop writes last: ``trainer_state.json`` (supervised) or ``rl_state.pt`` (RL).
    """
    found = [p for p in output.glob("checkpoint-*") if (p / marker).is_file() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))
