"""``Trainer``: transformers' Trainer with GLiClass losses, two learning rates, LoRA and GLiClass checkpoints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import transformers

from ..config import WEIGHTS_FILE
from ..modeling import GLiClassModel
from .args import TrainingArguments
from .core import TrainData, as_examples, build_augmenter, build_collator, enable_lora
from .dataset import TrainingDataset
from .losses import FocalLoss, SoftmaxCrossEntropyLoss

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

__all__ = ["TrainData", "Trainer"]


class Trainer(transformers.Trainer):
    """Train or fine-tune a :class:`~uniclass.Classifier` on ``{"text", "all_labels", "true_labels"}`` items.

    Example:
        >>> from uniclass import Classifier, Trainer, TrainingArguments
        >>> clf = Classifier.from_backbone("path/to/minilm")  # doctest: +SKIP
        >>> args = TrainingArguments(output_dir="runs/x", max_steps=1000, per_device_train_batch_size=16)
        >>> Trainer(clf, args, train_data="train.jsonl").train()  # doctest: +SKIP
        >>> clf.save_pretrained("models/x")  # doctest: +SKIP
    """

    args: TrainingArguments  # uniclass's own (the GLiClass fields), not only transformers'

    def __init__(
        self,
        classifier: Classifier,
        args: TrainingArguments,
        train_data: TrainData,
        eval_data: TrainData | None = None,
        previous_data: TrainData | None = None,
        **kwargs: Any,
    ):
        """``previous_data``: the data of an earlier stage to protect with EWC when ``args.ewc_lambda > 0``."""
        self.classifier = classifier
        transformers.set_seed(args.seed)  # before LoRA adapters are created, so their init is reproducible
        train_examples = as_examples(train_data)
        augmenter = build_augmenter(train_examples, args)
        eval_dataset = TrainingDataset(as_examples(eval_data)) if eval_data is not None else None
        self.loss_fn = (
            SoftmaxCrossEntropyLoss(args.label_smoothing)
            if args.loss == "softmax"
            else FocalLoss(args.focal_alpha, args.focal_gamma, args.label_smoothing)
        )
        self.ewc = _ewc_penalty(classifier, args, previous_data, self.loss_fn)  # before LoRA renames the weights
        enable_lora(classifier, args)
        args.label_names = ["targets"]
        collator = build_collator(classifier, args)
        # Augmentation keyed by (seed, epoch, index) from the first draw on, so a resumed run replays it exactly.
        train_dataset = TrainingDataset(train_examples, augmenter)
        train_dataset.set_epoch(0)
        super().__init__(
            model=classifier.model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=collator,
            **kwargs,
        )
        self.add_callback(_AugmentationEpoch(train_dataset))

    def train(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().train(*args, **kwargs)
        finally:
            self.classifier.model.eval()
            self.classifier.reset_caches()  # cached bi-encoder label vectors are stale after training

    # ------------------------------------------------------------------ loss
    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ):
        inputs = dict(inputs)
        targets = inputs.pop("targets")
        mask = inputs.pop("label_mask")
        need_vectors = self.args.contrastive_coef > 0
        outputs = model(**inputs, return_label_vectors=need_vectors) if need_vectors else model(**inputs)
        logits, label_vectors = outputs if need_vectors else (outputs, None)
        logits = logits[:, : targets.shape[1]]
        loss = self.loss_fn(logits, targets, mask)
        if label_vectors is not None:
            from .losses import label_contrastive_loss

            loss = loss + self.args.contrastive_coef * label_contrastive_loss(
                label_vectors[:, : targets.shape[1]], mask
            )
        if self.ewc is not None and model.training:  # eval_loss stays the task loss
            loss = loss + self.ewc(self.classifier.model)  # the unwrapped model: its names match the Fisher's
        return (loss, logits) if return_outputs else loss

    # ------------------------------------------------------------------ optimiser
    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is not None:
            return self.optimizer
        args = self.args
        params = args.param_groups(self.model)
        # transformers annotates PreTrainedModel, but any nn.Module works: only its parameters are read
        optimizer_cls, optimizer_kwargs = transformers.Trainer.get_optimizer_cls_and_kwargs(
            args,
            self.model,  # type: ignore[arg-type]
        )
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_cls(params, **optimizer_kwargs)
        return self.optimizer

    # ------------------------------------------------------------------ checkpoints
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoints are GLiClass folders (config.json, model.safetensors, tokenizer) that resume and load.

        With LoRA the adapters stay separate in intermediate checkpoints (so training can resume);
        ``Classifier.save_pretrained`` merges them.
        """
        output_dir = output_dir or self.args.output_dir
        if output_dir is None:
            raise ValueError("a checkpoint needs an output_dir (TrainingArguments.output_dir)")
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        self.classifier.save_pretrained(output, merge_lora=False)
        torch.save(self.args, output / "training_args.bin")

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        from safetensors.torch import load_file

        state = load_file(str(Path(resume_from_checkpoint) / WEIGHTS_FILE))
        cast(GLiClassModel, model or self.model).load_state_dict_checked(state)  # the classifier's model


class _AugmentationEpoch(transformers.TrainerCallback):
    """Tells the training dataset which epoch starts, so its augmentation is keyed by the epoch.

    accelerate's dataloader forwards ``set_epoch`` to the dataset only when its sampler chain has no
    ``set_epoch`` of its own: it does not for the batch-skipping loader of a resumed epoch (without this callback
    the resumed epoch was read as epoch 0), nor under DDP with the seedable sampler. ``state.epoch`` is the
    fractional epoch reached (restored from ``trainer_state.json`` on resume); its floor is the epoch the training
    loop starts next, the same number the loop gives the dataloader.
    """

    def __init__(self, dataset: TrainingDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args: Any, state: transformers.TrainerState, control: Any, **kwargs: Any) -> None:
        self.dataset.set_epoch(int(state.epoch or 0))


def _ewc_penalty(classifier: Classifier, args: TrainingArguments, previous_data: TrainData | None, loss_fn: Any) -> Any:
    """EWC against ``previous_data`` (ewc.py), measured at the starting weights on the training device."""
    if not args.ewc_lambda:
        if previous_data is not None:
            warnings.warn("previous_data is ignored: set ewc_lambda > 0 to use EWC", stacklevel=3)
        return None
    if previous_data is None:
        raise ValueError("ewc_lambda > 0 needs previous_data (the data of the earlier stage to protect)")
    from .ewc import EWCPenalty

    classifier.model.to(args.device)
    return EWCPenalty.from_data(
        classifier,
        as_examples(previous_data),
        lam=args.ewc_lambda,
        samples=args.ewc_samples,
        max_length=min(args.max_length, classifier.max_length),
        loss_fn=loss_fn,
        seed=args.seed,
    )
