"""Score a classifier on labelled data: the paper's single-label protocol, multi-label F1 and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.formats import Example, load_examples
from .metrics import brier_score, expected_calibration_error, multi_label_report, single_label_report

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier


def load_eval_data(data: str | Path, limit: int | None = None, seed: int = 0) -> list[Example]:
    """The labelled examples of a JSON/JSONL file (``{text, all_labels, true_labels}`` items).

    ``limit`` keeps a seeded random subset (the same one for every model, so results compare). Named research
    corpora (``bbc_news``, ...) are the lab's: ``python -m uniclass_lab data fetch NAME`` writes one as a file.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")  # numpy would say "negative dimensions"
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(
            f"{data}: no such file (named corpora such as bbc_news come from the lab: "
            "python -m uniclass_lab data fetch NAME prints the file to pass)"
        )
    examples = load_examples(path)
    if not examples:
        raise ValueError(f"{path}: no items to evaluate")
    if limit is not None and limit < len(examples):
        rng = np.random.default_rng(seed)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), size=limit, replace=False))]
    return examples


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    *,
    multi_label: bool = False,
    threshold: float = 0.5,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Evaluate ``classifier`` (anything with ``predict``-compatible ``scores``) on ``examples``.

    Single-label (the GLiClass paper's protocol): argmax over each item's labels, accuracy and macro-F1 over the
    dataset's label set. Multi-label: sigmoid scores, micro/macro-F1 at ``threshold``, ECE and Brier score.
    """
    if not examples:
        raise ValueError("no examples to evaluate")
    texts = [e.text for e in examples]
    labels = [list(e.all_labels) for e in examples]
    prompts = [e.prompt for e in examples]
    scores = classifier.scores(texts, labels, multi_label=multi_label, prompt=prompts, batch_size=batch_size)
    if not multi_label:
        gold = [e.all_labels[int(np.argmax(e.targets))] for e in examples]
        predicted = [e.all_labels[int(np.argmax(s))] for e, s in zip(examples, scores, strict=True)]
        label_set = sorted({label for e in examples for label in e.all_labels})
        report = single_label_report(gold, predicted, label_set)
        return {
            "protocol": "single-label",
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "n": report["n"],
        }
    truth = [set(e.true_labels) for e in examples]
    report = multi_label_report(labels, truth, scores, threshold)
    probs = np.concatenate([np.asarray(s, dtype=float) for s in scores])
    targets = np.concatenate([np.asarray(e.targets, dtype=float) > 0 for e in examples]).astype(float)
    return {
        "protocol": "multi-label",
        "threshold": threshold,
        "micro_f1": report["micro_f1"],
        "macro_f1": report["macro_f1"],
        "ece": expected_calibration_error(probs, targets),
        "brier": brier_score(probs, targets),
        "n": report["n"],
    }


def few_shot_split(
    examples: list[Example], shots: int, test_size: int, seed: int
) -> tuple[list[Example], list[Example]]:
    """``shots`` training items per label (labels sorted, seeded), then a seeded test sample of the rest.

    Single-label items (the first true label counts); the same split for every model given the same seed.
    """
    import random

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_label.setdefault(e.true_labels[0], []).append(i)
    train = [i for label in sorted(by_label) for i in rng.sample(by_label[label], min(shots, len(by_label[label])))]
    rest = sorted(set(range(len(examples))) - set(train))
    test = rng.sample(rest, min(test_size, len(rest)))
    return [examples[i] for i in train], [examples[i] for i in test]
