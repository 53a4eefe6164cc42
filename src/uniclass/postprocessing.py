"""From logits to answers: chunk aggregation, activations, thresholds, top-k and sorting (numpy only)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .types import Threshold

DEFAULT_THRESHOLD = 0.5


def aggregate_chunks(chunk_logits: Sequence[np.ndarray], how: str = "max") -> np.ndarray:
    """Combine the logits of several windows over one text (all labels are scored in every window)."""
    stacked = np.stack(chunk_logits)
    if how == "max":
        return stacked.max(axis=0)
    if how == "mean":
        return stacked.mean(axis=0)
    raise ValueError(f"aggregate must be 'max' or 'mean', got {how!r}")


def activate(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Sigmoid per label (multi-label) or softmax over the text's labels (single-label), in float64."""
    logits = logits.astype(np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def normalize_thresholds(threshold: Any, n: int) -> list[Threshold]:
    """A float, a per-label dict, or a list of those with one entry per text; every value in [0, 1]."""
    if isinstance(threshold, (list, tuple)):
        if len(threshold) != n:
            raise ValueError(f"threshold has {len(threshold)} entries but there are {n} texts")
        return [_check_threshold(t, f"threshold[{i}]") for i, t in enumerate(threshold)]
    return [_check_threshold(threshold, "threshold")] * n


def resolve_threshold(threshold: Any, calibration: Any = None) -> Any:
    """What ``threshold=None`` means everywhere (``classify``, the server, the batch ``Predictor``): the
    per-label thresholds fitted by ``calibrate``, else ``DEFAULT_THRESHOLD``. Anything else is returned as is."""
    if threshold is not None:
        return threshold
    fitted = calibration.thresholds if calibration else None
    return dict(fitted) if fitted else DEFAULT_THRESHOLD


def check_threshold(threshold: Any) -> None:
    """Validate a single text's threshold early (``None`` passes: it means the default): a float or a per-label
    dict, every value in [0, 1]. Front ends call it before any model work so a bad value fails alone."""
    if threshold is not None:
        normalize_thresholds(threshold, 1)


def _check_threshold(value: Any, where: str) -> Threshold:
    if isinstance(value, Mapping):
        return {label: _check_number(t, f"{where}[{label!r}]") for label, t in value.items()}
    return _check_number(value, where, "a number in [0, 1] or a dict label -> number")


def _check_number(value: Any, where: str, expected: str = "a number in [0, 1]") -> float:
    # numbers.Real, not (int, float): a numpy float32 read from an array or a calibration file is a number too;
    # bool is an int to Python but never meant as a threshold
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be {expected}, got {type(value).__name__}")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # NaN fails the comparison too
        raise ValueError(f"{where}={value} is outside [0, 1]")
    return number


def select(
    labels: Sequence[str], scores: np.ndarray, *, multi_label: bool, threshold: Threshold, top_k: int | None
) -> list[dict[str, Any]]:
    """``[{"label", "score"}]`` sorted by score (highest first).

    Multi-label keeps every label whose score reaches its threshold (inclusive, like the official pipeline);
    single-label keeps the best label, or the ``top_k`` best. ``top_k`` also caps multi-label answers.
    """
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], i))
    if multi_label:
        order = [i for i in order if scores[i] >= label_threshold(threshold, labels[i])]
    else:
        order = order[: top_k or 1]
    if top_k is not None:
        order = order[:top_k]
    return [{"label": labels[i], "score": float(scores[i])} for i in order]


def unknown_threshold_labels(thresholds: Sequence[Any], known: set[str]) -> list[str]:
    """The labels named by per-label thresholds that are not in ``known`` (a typo, or a label left out of the
    set): such an entry can never apply, so the caller warns instead of ignoring it silently.

    >>> unknown_threshold_labels([{"spam": 0.8, "ham": 0.4}, 0.5], {"ham", "eggs"})
    ['spam']
    """
    named = {str(label) for t in thresholds if isinstance(t, Mapping) for label in t}
    return sorted(named - known)


def label_threshold(threshold: Threshold, label: str) -> float:
    """The threshold of one label: its entry of a per-label dict (default 0.5), or the single float."""
    if isinstance(threshold, Mapping):
        return float(threshold.get(label, DEFAULT_THRESHOLD))
    return float(threshold)


def check_top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    return top_k
