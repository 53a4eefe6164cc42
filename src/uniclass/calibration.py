"""Post-hoc calibration: temperature scaling and per-label thresholds, fitted on held-out examples (numpy only).

Part of the core: the classifier applies a checkpoint's :class:`Calibration` to every result and fits one in
``Classifier.calibrate``. How well a calibration scores (ECE, Brier) is evaluation's
(:func:`uniclass.evaluation.metrics.calibration_report`).

A :class:`Calibration` is saved as ``calibration.json`` next to a checkpoint's weights. Temperature scaling divides
every logit by one positive number ``T`` (``T > 1`` softens over-confident scores); it never changes the ranking of
a text's labels, only how far the scores are from 0.5 (multi-label) or how peaked the softmax is (single-label).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .postprocessing import DEFAULT_THRESHOLD

CALIBRATION_FILE = "calibration.json"
TEMPERATURE_BOUNDS = (0.05, 20.0)

__all__ = [
    "CALIBRATION_FILE",
    "Calibration",
    "fit_shift_temperature",
    "fit_temperature",
    "fit_thresholds",
]


# ----------------------------------------------------------------------------------------------------------------------
# The saved object
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Calibration:
    """A fitted temperature and shift and, optionally, one decision threshold per label.

    Args:
        temperature: Positive number the logits are divided by before the sigmoid / softmax.
        shift: Number subtracted from the logits first. A softmax ignores it (single-label results do not change);
            for sigmoid scores it moves where 0.5 falls. Models whose logits are a scaled cosine (bi-encoders with
            ``normalize_features``) need it: a cosine has no natural zero, so without a shift a text can be
            "above 0.5" for every label or for none.
        thresholds: Optional ``label -> threshold`` (each in ``[0, 1]``) for multi-label decisions; labels not in
            it keep the caller's threshold.
        label_count_slope: Multi-label scores only: ``slope * ln(number of labels)`` is subtracted too, so a text
            scored against many labels needs a higher logit to pass 0.5 than one scored against two (with many
            labels, more of them are near any text by chance).
        relative: Multi-label scores only: ``relative * relative_temperature * log_softmax(logits /
            relative_temperature)`` is added (it is 0 for a label that dominates the text's others and negative for
            the rest), so the evident label of a text can pass 0.5 without every label near it passing too.
        relative_temperature: The softmax temperature of that term.

    Multi-label scores are ``sigmoid(z / temperature)`` with ``z = logits - shift - slope * ln L + relative term``;
    single-label scores ``softmax((logits - shift) / temperature)`` (the extra terms do not apply: a softmax
    already compares a text's labels). Files without the three newer keys load and score as before.

    Example:

    >>> calibration = Calibration(temperature=2.0, thresholds={"sports": 0.3})
    >>> calibration.apply(np.array([4.0, -1.0]))
    array([ 2. , -0.5])
    >>> Calibration.from_dict(calibration.to_dict()) == calibration
    True
    """

    temperature: float = 1.0
    thresholds: dict[str, float] | None = None
    shift: float = 0.0
    label_count_slope: float = 0.0
    relative: float = 0.0
    relative_temperature: float = 1.0

    def __post_init__(self) -> None:
        temperature = self.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite positive number, got {temperature}")
        self.temperature = float(temperature)
        if isinstance(self.shift, bool) or not isinstance(self.shift, numbers.Real) or not math.isfinite(self.shift):
            raise ValueError(f"shift must be a finite number, got {self.shift!r}")
        self.shift = float(self.shift)
        for name in ("label_count_slope", "relative", "relative_temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        if self.relative < 0 or self.relative_temperature <= 0:
            raise ValueError(
                f"relative must be >= 0 and relative_temperature > 0, got {self.relative}, {self.relative_temperature}"
            )
        if self.thresholds is not None:
            thresholds = {}
            for label, value in self.thresholds.items():
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"threshold for {label!r} must be a number in [0, 1], got {value!r}")
                thresholds[str(label)] = float(value)
            self.thresholds = thresholds

    def apply(self, logits: np.ndarray, *, multi_label: bool = False) -> np.ndarray:
        """The logits minus the shift, divided by the temperature (same shape); with ``multi_label=True`` the
        label-count and relative terms too (over the last axis: one text's labels).

        Example:

        >>> calibration = Calibration(temperature=2.0, shift=1.0, relative=1.0, relative_temperature=1.0)
        >>> calibration.apply(np.array([5.0, 1.0]), multi_label=True).round(3)
        array([ 1.991, -2.009])
        """
        logits = np.asarray(logits, dtype=np.float64) if multi_label else np.asarray(logits)
        shifted = logits - self.shift
        if multi_label and logits.shape[-1] and (self.label_count_slope or self.relative):
            shifted = shifted - self.label_count_slope * math.log(logits.shape[-1])
            if self.relative:
                scaled = logits / self.relative_temperature
                top = scaled.max(axis=-1, keepdims=True)
                log_softmax = scaled - top - np.log(np.exp(scaled - top).sum(axis=-1, keepdims=True))
                shifted = shifted + self.relative * self.relative_temperature * log_softmax
        return shifted / self.temperature

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"temperature": self.temperature, "thresholds": self.thresholds, "shift": self.shift}
        if self.label_count_slope or self.relative:  # written only when used, so older files stay byte-identical
            data.update(
                label_count_slope=self.label_count_slope,
                relative=self.relative,
                relative_temperature=self.relative_temperature,
            )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        unknown = sorted(
            set(data) - {"temperature", "thresholds", "shift", "label_count_slope", "relative", "relative_temperature"}
        )
        if unknown:
            raise ValueError(f"unknown calibration fields: {unknown}")
        return cls(
            temperature=data.get("temperature", 1.0),
            thresholds=data.get("thresholds"),
            shift=data.get("shift", 0.0),
            label_count_slope=data.get("label_count_slope", 0.0),
            relative=data.get("relative", 0.0),
            relative_temperature=data.get("relative_temperature", 1.0),
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``calibration.json`` into ``directory`` (created if needed); returns the file's path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CALIBRATION_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Calibration | None:
        """Read ``calibration.json`` from ``directory``; ``None`` when the folder has none."""
        path = Path(directory) / CALIBRATION_FILE
        if not path.is_file():
            return None
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------------------------------------
# Input checks shared by the fitting functions
# ----------------------------------------------------------------------------------------------------------------------


def _prepare(
    logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None, multi_label: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(logits, targets, mask)`` as float64 / float64 / bool arrays of one shape, validated.

    Single-label targets may be class indices (one per row, shape ``logits.shape[:-1]``) or one-hot rows; they are
    returned one-hot. Masked-out entries (padded labels) get target 0.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if logits.size == 0:
        raise ValueError("cannot calibrate on an empty set of logits")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    mask = np.ones(logits.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != logits.shape:
        raise ValueError(f"mask has shape {mask.shape} but logits has shape {logits.shape}")
    if not mask.any():
        raise ValueError("the mask leaves nothing to calibrate on")
    if not multi_label:
        if logits.ndim < 1:
            raise ValueError("single-label logits need a label axis (shape (n, k))")
        if targets.shape == logits.shape[:-1]:
            targets = _one_hot(targets, logits.shape[-1])
        if not mask.any(axis=-1).all():
            raise ValueError("every row needs at least one unmasked label")
    targets = targets.astype(np.float64)
    if targets.shape != logits.shape:
        raise ValueError(f"targets has shape {targets.shape} but logits has shape {logits.shape}")
    if not np.all((targets >= 0.0) & (targets <= 1.0)):
        raise ValueError("targets must lie in [0, 1]")
    if np.any(targets[~mask] != 0):
        raise ValueError("a target falls on a masked-out (padded) label")
    if not multi_label and not np.allclose(targets.sum(axis=-1), 1.0):
        raise ValueError("single-label targets must be one class index or one one-hot row per example")
    return logits, targets, mask


def _one_hot(indices: np.ndarray, n_classes: int) -> np.ndarray:
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"class-index targets must be integers, got dtype {indices.dtype}")
    if np.any((indices < 0) | (indices >= n_classes)):
        raise ValueError(f"class indices must lie in [0, {n_classes})")
    return (indices[..., None] == np.arange(n_classes)).astype(np.float64)


def _log_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, ignoring masked-out entries (which get ``-inf``)."""
    masked = np.where(mask, logits, -np.inf)
    peak = masked.max(axis=-1, keepdims=True)
    return masked - peak - np.log(np.exp(masked - peak).sum(axis=-1, keepdims=True))


def _probabilities(logits: np.ndarray, mask: np.ndarray, multi_label: bool) -> np.ndarray:
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    return np.exp(_log_softmax(logits, mask))


# ----------------------------------------------------------------------------------------------------------------------
# Temperature
# ----------------------------------------------------------------------------------------------------------------------


def _nll_function(
    logits: np.ndarray, targets: np.ndarray, mask: np.ndarray, multi_label: bool
) -> Callable[[float], float]:
    """Mean negative log-likelihood as a function of the temperature."""
    if multi_label:
        z, y = logits[mask], targets[mask]

        def binary_nll(temperature: float) -> float:
            x = z / temperature
            # -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] = log(1 + e^x) - y x
            return float(np.mean(np.logaddexp(0.0, x) - y * x))

        return binary_nll

    def softmax_nll(temperature: float) -> float:
        log_probs = _log_softmax(logits / temperature, mask)
        # masked-out entries hold -inf log-probabilities and 0 targets: zero them before multiplying
        return float(-np.mean(np.sum(targets * np.where(mask, log_probs, 0.0), axis=-1)))

    return softmax_nll


def _golden_section(f: Callable[[float], float], low: float, high: float, tol: float = 1e-7) -> float:
    """Minimiser of a unimodal ``f`` on ``[low, high]`` (deterministic; converges to an end if the minimum is there)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:  # the minimum lies in [c, b]
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def fit_shift_temperature(
    logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, float]:
    """``(shift, temperature)`` minimising the binary cross-entropy of ``sigmoid((logits - shift) / T)``.

    A one-feature logistic regression ``sigmoid(a * logit + c)`` (convex; Newton's method), returned as
    ``T = 1 / a`` and ``shift = -c / a``. For multi-label models whose logits have no natural zero (a scaled cosine),
    this puts 0.5 where a label becomes more likely true than not on the given data.

    Example:

    >>> logits = np.array([5.0, 6.0, 7.0, 8.0, 6.5, 7.5])
    >>> targets = np.array([0, 0, 1, 1, 0, 1])
    >>> shift, temperature = fit_shift_temperature(logits, targets)
    >>> 6.0 < shift < 7.5 and temperature > 0
    True
    """
    x, y, m = _prepare(logits, targets, mask, True)
    x, y = x[m], y[m]
    if np.all(y == y[0]):
        raise ValueError("fitting a shift needs both true and false labels")
    # Newton's method on standardised logits: raw logits of a fused or cosine model span tens of units, where
    # undamped Newton steps from a = 1 overshoot and diverge. Fit sigmoid(a' * z + c') on z = (x - mu) / sd.
    mu, sd = float(np.mean(x)), float(np.std(x)) or 1.0
    z = (x - mu) / sd
    a, c = 1.0, 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a * z + c)))
        w = p * (1 - p) + 1e-9
        grad = np.array([np.sum((p - y) * z), np.sum(p - y)])
        hess = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        step *= min(1.0, 4.0 / max(float(np.abs(step).max()), 1e-12))  # damped: at most 4 units per step
        a, c = a - step[0], c - step[1]
        if np.abs(step).max() < 1e-10:
            break
    if not a > 0:
        raise ValueError("the logits do not rank true labels above false ones: no positive temperature fits")
    # sigmoid(a * (x - mu) / sd + c) = sigmoid((x - shift) / T) with T = sd / a, shift = mu - c * sd / a
    return float(mu - c * sd / a), float(sd / a)


def fit_temperature(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    multi_label: bool = True,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """The temperature ``T`` that minimises the negative log-likelihood of held-out targets.

    Multi-label: binary cross-entropy of ``sigmoid(logits / T)`` over every (unmasked) entry. Single-label:
    cross-entropy of ``softmax(logits / T)`` over each row's unmasked labels. Both are convex in ``1 / T``, hence
    unimodal in ``log T``; the search is a golden-section search over ``log T`` within ``bounds`` (deterministic,
    no gradients). Returns ``1.0`` when every logit is zero (the likelihood does not depend on ``T``).

    Args:
        logits: Raw scores, shape ``(n, k)`` (multi-label: any shape).
        targets: Multi-label: 0/1 per entry, same shape. Single-label: class index per row (shape ``(n,)``) or
            one-hot rows (shape ``(n, k)``).
        mask: Optional boolean array shaped like ``logits``; false marks padding (rows with fewer labels).
        multi_label: Sigmoid per label (``True``) or softmax per row (``False``).
        bounds: The ``(low, high)`` range searched; a result at an end means the data want a more extreme ``T``.

    Example:

    >>> # logit 2 is right 3 times out of 4 (and logit -2 likewise): the best T makes sigmoid(2 / T) = 3/4,
    >>> # i.e. T = 2 / ln(3) = 1.8205
    >>> logits = np.array([2.0, 2.0, 2.0, 2.0, -2.0, -2.0, -2.0, -2.0])
    >>> targets = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    >>> round(fit_temperature(logits, targets), 4)
    1.8205
    """
    low, high = bounds
    if not 0.0 < low < high or not math.isfinite(high):
        raise ValueError(f"bounds must satisfy 0 < low < high < inf, got {bounds}")
    logits, targets, mask = _prepare(logits, targets, mask, multi_label)
    if not np.any(logits[mask]):
        return 1.0
    nll = _nll_function(logits, targets, mask, multi_label)
    log_t = _golden_section(lambda u: nll(math.exp(u)), math.log(low), math.log(high))
    return float(min(max(math.exp(log_t), low), high))


# ----------------------------------------------------------------------------------------------------------------------
# Thresholds
# ----------------------------------------------------------------------------------------------------------------------


def _default_grid() -> np.ndarray:
    return np.round(np.arange(1, 100) / 100.0, 2)  # 0.01, 0.02, ..., 0.99


def fit_thresholds(
    labels: Sequence[str],
    scores: Sequence[Sequence[float]] | np.ndarray,
    true_sets: Sequence[Collection[str]],
    grid: Sequence[float] | None = None,
    *,
    default: float = DEFAULT_THRESHOLD,
) -> dict[str, float]:
    """Per-label threshold maximising that label's F1 on the given examples.

    A label is predicted when ``score >= threshold`` (as at inference). Among grid values with the best F1 the one
    closest to ``default`` wins (then the smaller one), so flat stretches do not push thresholds to extremes. A
    label without positive examples, or whose F1 is 0 at every grid value, keeps ``default``.

    Args:
        labels: The label set; ``scores[i][j]`` is the score of ``labels[j]`` for example ``i``.
        scores: Probabilities, shape ``(n_examples, len(labels))``.
        true_sets: The gold labels of each example (subsets of ``labels``).
        grid: Candidate thresholds in ``[0, 1]``; default ``0.01, 0.02, ..., 0.99``.
        default: Threshold of labels that cannot be fitted.

    Example:

    >>> scores = [[0.3, 0.9], [0.2, 0.8], [0.1, 0.1]]
    >>> fit_thresholds(["a", "b"], scores, [{"a"}, {"a", "b"}, set()], grid=[0.15, 0.5, 0.85])
    {'a': 0.15, 'b': 0.5}
    """
    labels = list(labels)
    if not labels or len(set(labels)) != len(labels):
        raise ValueError("labels must be a non-empty list of distinct labels")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(true_sets), len(labels)):
        raise ValueError(f"scores must have shape ({len(true_sets)}, {len(labels)}), got {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError("cannot fit thresholds on an empty set of examples")
    candidates = _default_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    if candidates.ndim != 1 or candidates.size == 0 or np.any((candidates < 0.0) | (candidates > 1.0)):
        raise ValueError("grid must be a non-empty list of thresholds in [0, 1]")
    index = {label: j for j, label in enumerate(labels)}
    gold = np.zeros(scores.shape, dtype=bool)
    for i, true in enumerate(true_sets):
        unknown = sorted(set(true) - set(index))
        if unknown:
            raise ValueError(f"example {i} has gold labels outside `labels`: {unknown}")
        gold[i, [index[label] for label in true]] = True
    return {label: _best_threshold(scores[:, j], gold[:, j], candidates, default) for j, label in enumerate(labels)}


def _best_threshold(scores: np.ndarray, gold: np.ndarray, grid: np.ndarray, default: float) -> float:
    if not gold.any():
        return float(default)
    predicted = scores[None, :] >= grid[:, None]  # (grid, examples)
    tp = (predicted & gold).sum(axis=1)
    fp = (predicted & ~gold).sum(axis=1)
    fn = (~predicted & gold).sum(axis=1)
    f1 = 2 * tp / (2 * tp + fp + fn)  # gold.any() -> the denominator is positive
    best = f1.max()
    if best == 0:
        return float(default)
    candidates = grid[f1 == best]
    return float(min(candidates, key=lambda t: (abs(t - default), t)))
