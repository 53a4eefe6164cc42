"""Classification and calibration metrics, in plain numpy.

Conventions shared by every function here:

* an empty input raises ``ValueError`` (a metric over nothing is a bug in the caller, not a zero);
* a ratio whose denominator is zero (precision of a label never predicted, recall of a label with no support,
  F1 when both are zero) is ``0.0``, like scikit-learn's ``zero_division=0``;
* macro averages run over **every** label the caller names, including labels with no support and no
  predictions (they contribute an F1 of ``0.0``), so the score is comparable across runs on one dataset;
* a multi-label prediction is positive when ``score >= threshold`` (inclusive, as in
  :func:`uniclass.postprocessing.select`).
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from ..calibration import (
    Calibration,
    _nll_function,
    _prepare,
    _probabilities,
)  # the fitting's own input checks and probabilities
from ..postprocessing import DEFAULT_THRESHOLD
from ..types import Threshold

__all__ = [
    "brier_score",
    "expected_calibration_error",
    "mean_over_datasets",
    "multi_label_report",
    "single_label_report",
]


# ----------------------------------------------------------------------------------------------------------------------
# Counting helpers
# ----------------------------------------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or ``0.0`` when the denominator is zero."""
    return float(numerator) / float(denominator) if denominator else 0.0


def _scores_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from confusion counts (each ``0.0`` when undefined)."""
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        # 2PR / (P + R) simplified; equal to it whenever it is defined and 0 when tp == 0.
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _check_labels(labels: Sequence[str], where: str) -> list[str]:
    labels = list(labels)
    if not labels:
        raise ValueError(f"{where} is empty")
    if len(set(labels)) != len(labels):
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        raise ValueError(f"{where} has duplicate labels: {duplicates}")
    return labels


# ----------------------------------------------------------------------------------------------------------------------
# Single-label
# ----------------------------------------------------------------------------------------------------------------------


def single_label_report(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-label precision / recall / F1 for single-label predictions.

    Args:
        y_true: The gold label of each example.
        y_pred: The predicted label of each example (same length as ``y_true``).
        labels: The dataset's label set. Every gold and predicted label must belong to it. The macro-F1 averages
            over all of these labels, so a label with no support that is never predicted counts as F1 ``0.0``
            (scikit-learn's ``f1_score(..., labels=labels, average="macro", zero_division=0)``).

    Returns:
        ``{"accuracy", "macro_f1", "per_label", "n"}`` where ``per_label`` maps each label (in the order of
        ``labels``) to ``{"precision", "recall", "f1", "support"}``.

    Raises:
        ValueError: On empty inputs, mismatched lengths, duplicate labels or a label outside ``labels``.

    Example:

    >>> report = single_label_report(["a", "a", "b"], ["a", "b", "b"], labels=["a", "b"])
    >>> round(report["accuracy"], 4), round(report["macro_f1"], 4), report["n"]
    (0.6667, 0.6667, 3)
    >>> report["per_label"]["b"]
    {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    """
    labels = _check_labels(labels, "labels")
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} entries but y_pred has {len(y_pred)}")
    if not y_true:
        raise ValueError("cannot evaluate an empty set of predictions")
    known = set(labels)
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        unknown = sorted({v for v in values if v not in known})
        if unknown:
            raise ValueError(f"{name} contains labels outside `labels`: {unknown}")

    per_label: dict[str, dict[str, Any]] = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred))
        fp = sum(t != label and p == label for t, p in zip(y_true, y_pred))
        fn = sum(t == label and p != label for t, p in zip(y_true, y_pred))
        per_label[label] = {**_scores_from_counts(tp, fp, fn), "support": tp + fn}

    correct = sum(t == p for t, p in zip(y_true, y_pred))
    return {
        "accuracy": correct / len(y_true),
        "macro_f1": float(np.mean([scores["f1"] for scores in per_label.values()])),
        "per_label": per_label,
        "n": len(y_true),
    }


# ----------------------------------------------------------------------------------------------------------------------
# Multi-label
# ----------------------------------------------------------------------------------------------------------------------


def _threshold_for(threshold: Threshold, label: str) -> float:
    if isinstance(threshold, Mapping):
        return float(threshold.get(label, DEFAULT_THRESHOLD))
    return float(threshold)


def _check_threshold(threshold: Threshold) -> None:
    values = threshold.values() if isinstance(threshold, Mapping) else [threshold]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"thresholds must be numbers in [0, 1], got {value!r}")


def multi_label_report(
    labels_per_item: Sequence[Sequence[str]],
    true_per_item: Sequence[Collection[str]],
    scores_per_item: Sequence[Sequence[float]],
    threshold: Threshold = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """Micro / macro F1, micro precision and recall, and subset accuracy for multi-label scores.

    Every item may come with its own candidate labels (zero-shot datasets often do). Each (item, candidate
    label) pair is one binary decision: predicted positive when its score reaches the label's threshold.

    Args:
        labels_per_item: The candidate labels of each item (unique within an item).
        true_per_item: The gold labels of each item; a subset of that item's candidates (may be empty).
        scores_per_item: One score in ``[0, 1]`` per candidate label, aligned with ``labels_per_item``.
        threshold: One threshold for every label, or a dict ``label -> threshold`` (labels missing from it use
            ``0.5``), e.g. the output of :func:`uniclass.evaluation.fit_thresholds`.

    Returns:
        ``{"micro_f1", "macro_f1", "precision", "recall", "subset_accuracy", "n", "threshold", "per_label"}``.
        ``precision`` and ``recall`` are micro-averaged; ``macro_f1`` averages the per-label F1 over every label
        that appears as a candidate (in order of first appearance), a label with no positives and no predictions
        counting as ``0.0``; ``subset_accuracy`` is the share of items whose predicted set equals the gold set;
        ``per_label`` maps each label to ``{"precision", "recall", "f1", "support"}``.

    Raises:
        ValueError: On empty or misaligned inputs, or a gold label that is not among the item's candidates.

    Example:

    >>> report = multi_label_report(
    ...     labels_per_item=[["a", "b"], ["a", "b"]],
    ...     true_per_item=[{"a"}, {"a", "b"}],
    ...     scores_per_item=[[0.9, 0.6], [0.8, 0.2]],
    ... )
    >>> report["micro_f1"], report["macro_f1"], report["subset_accuracy"]
    (0.6666666666666666, 0.5, 0.0)
    """
    if not (len(labels_per_item) == len(true_per_item) == len(scores_per_item)):
        raise ValueError(
            f"got {len(labels_per_item)} label lists, {len(true_per_item)} gold sets and "
            f"{len(scores_per_item)} score lists; they must be aligned"
        )
    if not labels_per_item:
        raise ValueError("cannot evaluate an empty set of predictions")
    _check_threshold(threshold)

    counts: dict[str, list[int]] = {}  # label -> [tp, fp, fn], in order of first appearance
    exact = 0
    for i, (labels, gold, scores) in enumerate(zip(labels_per_item, true_per_item, scores_per_item)):
        labels = _check_labels(labels, f"labels_per_item[{i}]")
        if len(scores) != len(labels):
            raise ValueError(f"item {i} has {len(labels)} labels but {len(scores)} scores")
        gold = set(gold)
        if not gold <= set(labels):
            raise ValueError(f"item {i}: gold labels {sorted(gold - set(labels))} are not among its candidates")
        predicted = {label for label, score in zip(labels, scores) if score >= _threshold_for(threshold, label)}
        exact += predicted == gold
        for label in labels:
            tp_fp_fn = counts.setdefault(label, [0, 0, 0])
            tp_fp_fn[0] += label in predicted and label in gold
            tp_fp_fn[1] += label in predicted and label not in gold
            tp_fp_fn[2] += label not in predicted and label in gold

    per_label = {
        label: {**_scores_from_counts(tp, fp, fn), "support": tp + fn} for label, (tp, fp, fn) in counts.items()
    }
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    micro = _scores_from_counts(tp, fp, fn)
    return {
        "micro_f1": micro["f1"],
        "macro_f1": float(np.mean([scores["f1"] for scores in per_label.values()])),
        "precision": micro["precision"],
        "recall": micro["recall"],
        "subset_accuracy": exact / len(labels_per_item),
        "n": len(labels_per_item),
        "threshold": dict(threshold) if isinstance(threshold, Mapping) else float(threshold),
        "per_label": per_label,
    }


# ----------------------------------------------------------------------------------------------------------------------
# Probability quality
# ----------------------------------------------------------------------------------------------------------------------


def _flatten_probabilities(
    probs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and flatten ``probs`` / ``targets`` to 1-D float64, keeping only entries where ``mask`` is true."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if probs.shape != targets.shape:
        raise ValueError(f"probs has shape {probs.shape} but targets has shape {targets.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != probs.shape:
            raise ValueError(f"mask has shape {mask.shape} but probs has shape {probs.shape}")
        probs, targets = probs[mask], targets[mask]
    probs, targets = probs.ravel(), targets.ravel()
    if probs.size == 0:
        raise ValueError("cannot evaluate an empty set of probabilities")
    if not np.all((probs >= 0.0) & (probs <= 1.0)):
        raise ValueError("probs must lie in [0, 1]")
    if not np.all((targets >= 0.0) & (targets <= 1.0)):
        raise ValueError("targets must lie in [0, 1] (0/1 outcomes)")
    return probs, targets


def expected_calibration_error(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 15, mask: np.ndarray | None = None
) -> float:
    """Expected calibration error of binary probabilities (one per (item, label) pair).

    The probabilities are put in ``n_bins`` equal-width bins over ``[0, 1]``: the first bin is ``[0, 1/n]`` and
    the others are ``(k/n, (k+1)/n]``. The ECE is ``sum_b (|B_b| / N) * |mean(targets in b) - mean(probs in b)|``.
    For single-label outputs pass the softmax probabilities and the one-hot targets (every class counts).

    Args:
        probs: Predicted probabilities of the positive outcome, any shape.
        targets: 0/1 outcomes, same shape as ``probs``.
        n_bins: Number of bins (positive).
        mask: Optional boolean array, same shape: only true entries are counted (e.g. to skip padded labels).

    Returns:
        The ECE, in ``[0, 1]``.

    Example:

    >>> # bin (0.2, 0.4]: conf 0.3, acc 0 -> |0 - 0.3| = 0.3; bin (0.8, 1.0]: conf 0.9, acc 1 -> 0.1
    >>> round(expected_calibration_error(np.array([0.3, 0.9]), np.array([0, 1]), n_bins=5), 6)
    0.2
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    probs, targets = _flatten_probabilities(probs, targets, mask)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": a probability equal to an inner edge belongs to the bin below it (right-closed bins).
    bins = np.clip(np.searchsorted(edges, probs, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    confidence = np.bincount(bins, weights=probs, minlength=n_bins)
    accuracy = np.bincount(bins, weights=targets, minlength=n_bins)
    # |sum(targets) - sum(probs)| per bin is |B| * |acc - conf|; dividing by N gives the weighted sum.
    return float(np.abs(accuracy - confidence)[counts > 0].sum() / probs.size)


def brier_score(probs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared difference between probabilities and 0/1 outcomes (lower is better).

    Args:
        probs: Predicted probabilities, any shape.
        targets: 0/1 outcomes, same shape as ``probs``.
        mask: Optional boolean array, same shape: only true entries are counted.

    Example:

    >>> # ((0.8 - 1)^2 + (0.4 - 0)^2) / 2 = (0.04 + 0.16) / 2
    >>> round(brier_score(np.array([0.8, 0.4]), np.array([1, 0])), 6)
    0.1
    """
    probs, targets = _flatten_probabilities(probs, targets, mask)
    return float(np.mean((probs - targets) ** 2))


# ----------------------------------------------------------------------------------------------------------------------
# Across datasets
# ----------------------------------------------------------------------------------------------------------------------


def mean_over_datasets(reports: Mapping[str, Mapping[str, Any]], key: str = "macro_f1") -> float:
    """Unweighted mean of one metric over several datasets' reports (each dataset counts once).

    Example:

    >>> mean_over_datasets({"news": {"macro_f1": 0.5}, "emotions": {"macro_f1": 0.75}})
    0.625
    """
    if not reports:
        raise ValueError("no reports to average")
    missing = sorted(name for name, report in reports.items() if key not in report)
    if missing:
        raise KeyError(f"reports {missing} have no {key!r}")
    return float(np.mean([float(report[key]) for report in reports.values()]))


def calibration_report(
    logits: np.ndarray,
    targets: np.ndarray,
    temperature: float,
    mask: np.ndarray | None = None,
    *,
    multi_label: bool = True,
    n_bins: int = 15,
) -> dict[str, float]:
    """ECE and Brier score of the probabilities before (``T = 1``) and after dividing the logits by ``temperature``.

    Inputs are as for :func:`fit_temperature`. Single-label probabilities are scored against one-hot targets over
    every unmasked (row, label) entry.

    Example:

    >>> report = calibration_report(np.array([3.0, -3.0, 3.0, -3.0]), np.array([1, 0, 0, 1]), temperature=20.0)
    >>> report["ece_after"] < report["ece_before"], report["temperature"]
    (True, 20.0)
    """
    temperature = Calibration(temperature=temperature).temperature
    logits, targets, mask = _prepare(logits, targets, mask, multi_label)
    before = _probabilities(logits, mask, multi_label)
    after = _probabilities(logits / temperature, mask, multi_label)
    return {
        "ece_before": expected_calibration_error(before, targets, n_bins=n_bins, mask=mask),
        "ece_after": expected_calibration_error(after, targets, n_bins=n_bins, mask=mask),
        "brier_before": brier_score(before, targets, mask=mask),
        "brier_after": brier_score(after, targets, mask=mask),
        "temperature": temperature,
    }


def probability_metrics(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    multi_label: bool = True,
    n_bins: int = 15,
) -> dict[str, float]:
    """ECE, Brier score and negative log-likelihood of the probabilities the logits give.

    Multi-label: sigmoid per (row, label) pair, binary NLL averaged over pairs. Single-label: softmax over each
    row's labels, ECE and Brier over every unmasked (row, label) entry against the one-hot targets (as
    :func:`calibration_report`), NLL the mean cross-entropy per row.

    Example:

    >>> metrics = probability_metrics(np.array([[2.0, -2.0], [-1.0, 1.0]]), np.array([[1, 0], [0, 1]]))
    >>> sorted(metrics), round(metrics["nll"], 4)
    (['brier', 'ece', 'nll'], 0.2201)
    """
    logits, targets, mask = _prepare(logits, targets, mask, multi_label)
    probs = _probabilities(logits, mask, multi_label)
    return {
        "ece": expected_calibration_error(probs, targets, n_bins=n_bins, mask=mask),
        "brier": brier_score(probs, targets, mask=mask),
        "nll": _nll_function(logits, targets, mask, multi_label)(1.0),
    }
