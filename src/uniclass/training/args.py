"""``TrainingArguments``: transformers' arguments plus what GLiClass training needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import transformers


@dataclass(kw_only=True)
class GLiClassArguments:
    """The GLiClass fields both training loops read (``TrainingArguments`` and ``RLTrainingArguments``).

    Declared once, so an option (say, label descriptions) cannot exist in one loop and silently not in the
    other. Keyword-only, so a subclass may still start with a positional ``output_dir``.

    Args:
        head_learning_rate: learning rate of everything outside the encoder(s): projectors, scorer, LSTM,
            segment embeddings, logit scale. ``learning_rate`` applies to the encoder. Default: 3x encoder.
        head_weight_decay: weight decay of the head (``weight_decay`` applies to the encoder).
        max_length: token window for training inputs (capped by the backbone); the text is cut, never labels.
        shuffle_labels: shuffle each item's labels every time it is drawn (copies; the data is not mutated).
        negatives_per_item: extra negative labels sampled from the dataset's label pool for each item.
        remove_labels_prob, add_examples_prob: official augmentations (drop some negatives / attach in-context
            examples drawn from items that share a label).
        label_descriptions_file, add_descriptions_prob, synonyms_prob: official label-description augmentations
            ("label: description" notes next to the text; labels swapped for synonyms).
        use_lora, lora_r, lora_alpha, lora_dropout, lora_target_modules: train LoRA adapters on the encoder
            (peft); the saved model has the adapters merged, so it is a plain GLiClass checkpoint.
    """

    head_learning_rate: float | None = field(default=None, metadata={"help": "LR outside the encoder (default 3x)."})
    head_weight_decay: float = field(default=0.01, metadata={"help": "Weight decay outside the encoder."})
    max_length: int = field(default=512, metadata={"help": "Token window for training inputs."})
    shuffle_labels: bool = field(default=True, metadata={"help": "Shuffle labels each time an item is drawn."})
    negatives_per_item: int = field(default=0, metadata={"help": "Random negative labels added per item."})
    remove_labels_prob: float = field(default=0.0, metadata={"help": "Probability of dropping some negatives."})
    add_examples_prob: float = field(default=0.0, metadata={"help": "Probability of attaching in-context examples."})
    label_descriptions_file: str | None = field(
        default=None, metadata={"help": "Official JSON list of {label, descriptions, synonyms}."}
    )
    add_descriptions_prob: float = field(
        default=0.0, metadata={"help": "Probability of adding 'label: description' to the text."}
    )
    synonyms_prob: float = field(default=0.0, metadata={"help": "Per-label probability of using a synonym."})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters on the encoder."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules."})

    def param_groups(self, model: Any) -> list[dict[str, Any]]:
        """The optimiser groups of ``model`` (a ``GLiClassModel``) for these learning rates and decays."""
        # learning_rate and weight_decay are fields of the other base, transformers.TrainingArguments
        learning_rate: float = self.learning_rate  # type: ignore[attr-defined]
        weight_decay: float = self.weight_decay  # type: ignore[attr-defined]
        return model.param_groups(
            learning_rate=learning_rate,
            head_learning_rate=self.head_learning_rate,
            weight_decay=weight_decay,
            head_weight_decay=self.head_weight_decay,
        )

    def _default_head_learning_rate(self) -> None:
        if self.head_learning_rate is None:
            self.head_learning_rate = self.learning_rate * 3  # type: ignore[attr-defined]

    def _check_schedule(self) -> None:
        # fields of transformers.TrainingArguments, or of RLTrainingArguments
        check_schedule(
            learning_rate=self.learning_rate,  # type: ignore[attr-defined]
            head_learning_rate=self.head_learning_rate,
            batch_size=self.per_device_train_batch_size,  # type: ignore[attr-defined]
            epochs=self.num_train_epochs,  # type: ignore[attr-defined]
            max_steps=self.max_steps,  # type: ignore[attr-defined]
        )


def check_schedule(
    *, learning_rate: Any, head_learning_rate: Any, batch_size: Any, epochs: Any, max_steps: Any = -1
) -> None:
    """One-line errors for values that would otherwise fail inside torch's sampler (a batch size of 0), train
    nothing without a word (no epochs and no steps) or fill the weights with NaN (a NaN learning rate).

    Example:
        >>> check_schedule(learning_rate=float("nan"), head_learning_rate=None, batch_size=8, epochs=1)
        Traceback (most recent call last):
        ...
        ValueError: learning_rate must be a finite number >= 0, got nan
    """
    rates = {"learning_rate": learning_rate, "head_learning_rate": head_learning_rate}
    for name, rate in rates.items():
        if rate is None and name == "head_learning_rate":
            continue  # the default: 3x learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < math.inf:
            raise ValueError(f"{name} must be a finite number >= 0, got {rate!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"the batch size must be an int >= 1, got {batch_size!r}")
    if not max_steps > 0 and not epochs > 0:  # written so that a NaN epoch count fails too
        raise ValueError(f"nothing to train: epochs={epochs!r} and max_steps={max_steps!r}; give either > 0")


@dataclass
class TrainingArguments(GLiClassArguments, transformers.TrainingArguments):
    """Everything ``transformers.TrainingArguments`` has (schedule, accumulation, bf16/fp16, checkpoints,
    resume, evaluation, DDP), the shared fields of :class:`GLiClassArguments` (two learning rates, window,
    augmentation, LoRA), plus:

    Args:
        loss: ``"focal"`` (binary, multi-label; soft targets allowed) or ``"softmax"`` (single-label
            cross-entropy over each text's labels).
        focal_alpha: focal-loss alpha (``alpha<0`` together with ``focal_gamma=0`` gives plain BCE).
        focal_gamma: focal-loss gamma.
        label_smoothing: smoothing of the targets.
        contrastive_coef: weight of the label-contrastive term (pushes a text's label vectors apart).
        ewc_lambda: Elastic Weight Consolidation (``training/ewc.py``) against the ``previous_data`` given to
            ``Trainer``: penalty ``ewc_lambda / 2 * sum F (theta - theta_start)**2``. ``0`` disables it.
        ewc_samples: the number of previous texts the Fisher is measured on.

    Example:
        >>> args = TrainingArguments(output_dir="out", max_steps=10, per_device_train_batch_size=8)
        >>> args.loss, args.head_learning_rate == 3 * args.learning_rate
        ('focal', True)
    """

    loss: str = field(default="focal", metadata={"help": "'focal' (multi-label) or 'softmax' (single-label)."})
    focal_alpha: float = field(default=-1.0, metadata={"help": "Focal alpha; <0 disables it."})
    focal_gamma: float = field(default=0.0, metadata={"help": "Focal gamma; 0 disables it."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Target smoothing."})
    contrastive_coef: float = field(default=0.0, metadata={"help": "Label-contrastive loss weight."})
    # Elastic Weight Consolidation (ewc.py)
    ewc_lambda: float = field(default=0.0, metadata={"help": "EWC strength against previous_data; 0 disables it."})
    ewc_samples: int = field(default=256, metadata={"help": "Previous texts used to estimate the EWC Fisher."})

    def __post_init__(self) -> None:
        # Our collator builds its own tensors; the Trainer must not drop the raw item column.
        self.remove_unused_columns = False
        if self.report_to in (None, "all"):
            self.report_to = "none"
        import torch

        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # pinning needs an accelerator; avoids a warning per run
        super().__post_init__()
        if self.loss not in ("focal", "softmax"):
            raise ValueError(f"loss must be 'focal' or 'softmax', got {self.loss!r}")
        self._default_head_learning_rate()
        self._check_schedule()
        augmenting = (
            self.shuffle_labels
            or self.negatives_per_item
            or self.remove_labels_prob
            or self.add_examples_prob
            or self.add_descriptions_prob
            or self.synonyms_prob
        )
        if augmenting and self.dataloader_persistent_workers and self.dataloader_num_workers > 0:
            # Augmentation is keyed by (seed, epoch, item) and the epoch is set on the main process's dataset;
            # persistent workers keep their own copy and would replay epoch 0's labels and negatives forever.
            raise ValueError(
                "dataloader_persistent_workers=True cannot be used with label augmentation (shuffle_labels, "
                "negatives_per_item, remove_labels_prob, add_examples_prob, add_descriptions_prob, synonyms_prob): "
                "the workers would keep augmenting as in the first epoch. Leave dataloader_persistent_workers off."
            )
