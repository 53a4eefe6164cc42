"""``Classifier.fit``: few-shot learning from a handful of labelled texts.

Two parts, either or both: label prototypes in the classifier's embedding-similarity prior (``prior.json``; each
label's prompt vector replaced by the mean of it and its examples' vectors, ``backends.embedding``), and fine-tuning
the GLiClass model itself on the ``Trainer``. Which is the default is measured in ``benchmarks/few_shot_prior.py``
(``benchmarks/RESULTS.md``).

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

# Whether fit fine-tunes the model when the prior's prototypes are set too (``finetune=None``): chosen on the
# selection sets of the few-shot protocol (benchmarks/few_shot_prior.py, benchmarks/RESULTS.md §10): prototypes
# alone 0.700 mean macro-F1; prototypes + LoRA fine-tuning 0.691 at lr 5e-4 (hurts 2-label sentiment) and 0.704 at
# lr 1e-4 (helps many-label topics, hurts foldoc), a tie on one split; so the cheaper choice, prototypes alone
# (seconds instead of minutes, the model's weights untouched). Measured with the previous prior (no reference
# standardisation, §10.1); with the shipped prior (prototypes scored unstandardised, §10.2) prototypes alone give
# 0.701 and prototypes + LoRA fine-tuning at lr 5e-4 0.689 (§10, "Fine-tuning under the shipped prior").
FINETUNE_WITH_PROTOTYPES = False


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
    finetune: bool | None = None,
    prototypes: bool = True,
    prototype_prompt_weight: float = 1.0,
    **training_args: Any,
) -> Classifier:
    """Train ``classifier`` in place (see ``Classifier.fit`` for the arguments) and return it."""
    true_lists = [[y] if isinstance(y, str) else list(y) for y in labels]
    if len(true_lists) != len(texts):
        raise ValueError(f"fit: {len(texts)} texts but {len(true_lists)} label entries")
    candidates = list(all_labels) if all_labels is not None else sorted({y for ys in true_lists for y in ys})
    use_prototypes = prototypes and classifier.prior is not None
    if finetune is None:
        finetune = default_finetune(classifier, prototypes)
    if not finetune and not use_prototypes:
        raise ValueError("fit: nothing to train: finetune=False needs a classifier with an embedding-similarity prior "
                         "(prior.json) and prototypes=True")
    if use_prototypes:
        set_prototypes(classifier, texts, true_lists, candidates, prompt_weight=prototype_prompt_weight)
    if finetune:
        finetune_model(classifier, texts, true_lists, candidates, multi_label=multi_label, epochs=epochs,
                       learning_rate=learning_rate, batch_size=batch_size, lora=lora, output_dir=output_dir, seed=seed,
                       **training_args)
    return classifier


def default_finetune(classifier: Classifier, prototypes: bool) -> bool:
    """Fine-tune unless the prior's prototypes do the learning (``FINETUNE_WITH_PROTOTYPES``, set by measurement)."""
    return classifier.prior is None or not prototypes or FINETUNE_WITH_PROTOTYPES


def set_prototypes(classifier: Classifier, texts: Sequence[str], true_lists: Sequence[Sequence[str]],
                   candidates: Sequence[str], *, prompt_weight: float) -> None:
    """One prototype per candidate label with examples (a multi-label text counts for each of its labels)."""
    if classifier.prior is None:
        raise ValueError("prototypes need a model with an embedding-similarity prior (prior.json)")
    classifier.prior.set_prototypes(prototype_examples(texts, true_lists, candidates), prompt_weight=prompt_weight)


def prototype_examples(texts: Sequence[str], true_lists: Sequence[Sequence[str]],
                       candidates: Sequence[str]) -> dict[str, list[str]]:
    """Each candidate's example texts, in order (labels outside ``candidates`` are ignored).

    A function of its own so that ``benchmarks/few_shot_prior.py`` sets exactly the prototypes ``fit`` sets.
    """
    by_label: dict[str, list[str]] = {label: [] for label in candidates}
    for text, ys in zip(texts, true_lists, strict=True):
        for y in ys:
            if y in by_label:
                by_label[y].append(text)
    return by_label


def finetune_model(
    classifier: Classifier,
    texts: Sequence[str],
    true_lists: Sequence[Sequence[str]],
    candidates: Sequence[str],
    *,
    multi_label: bool,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    lora: bool,
    output_dir: str | Path | None,
    seed: int,
    **training_args: Any,
) -> None:
    """Fine-tune the GLiClass model (not the prior) on the examples, every candidate label in each item."""
    backend = classifier.require_torch("fit")
    from .args import TrainingArguments
    from .trainer import Trainer

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
            use_cpu=backend.device.type == "cpu",
            **training_args,
        )
        Trainer(classifier, args, train_data=examples).train()
    if lora:
        classifier.merge_lora()
    classifier.model.eval()
    classifier.reset_caches()
