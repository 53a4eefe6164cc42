"""``Classifier.fit``: few-shot fine-tuning on a handful of labelled texts, on top of the ``Trainer``.

``Classifier.fit`` imports this module only when called, so the classifier never depends on ``training``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.formats import Example

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier


def fit(
    classifier: Classifier,
    texts: Sequence[str],
    labels: Sequence[str | Sequence[str]],
    *,
    all_labels: Sequence[str] | None = None,
    multi_label: bool = True,
    epochs: float = 10,
    learning_rate: float = 1e-4,
    batch_size: int = 8,
    lora: bool = True,
    output_dir: str | Path | None = None,
    seed: int = 0,
    **training_args: Any,
) -> Classifier:
    """Train ``classifier`` in place (see ``Classifier.fit`` for the arguments) and return it."""
    classifier.require_torch("fit")
    from .args import TrainingArguments
    from .trainer import Trainer

    true_lists = [[y] if isinstance(y, str) else list(y) for y in labels]
    if len(true_lists) != len(texts):
        raise ValueError(f"fit: {len(texts)} texts but {len(true_lists)} label entries")
    candidates = list(all_labels) if all_labels is not None else sorted({y for ys in true_lists for y in ys})
    examples = [
        Example(text, tuple(candidates), tuple(1.0 if c in ys else 0.0 for c in candidates))
        for text, ys in zip(texts, true_lists, strict=True)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=str(output_dir or scratch),
            num_train_epochs=epochs,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            loss="focal" if multi_label else "softmax",
            use_lora=lora,
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=seed,
            use_cpu=classifier.device.type == "cpu",
            **training_args,
        )
        Trainer(classifier, args, train_data=examples).train()
    if lora:
        classifier.merge_lora()
    classifier.model.eval()
    classifier.reset_caches()
    return classifier
