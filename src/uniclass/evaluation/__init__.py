"""Evaluation helpers: classification metrics, calibration metrics, temperature scaling and per-label thresholds.

Everything here works on plain Python lists and numpy arrays, so it can score any model's outputs.
"""

from __future__ import annotations

from ..calibration import CALIBRATION_FILE, Calibration, fit_shift_temperature, fit_temperature, fit_thresholds
from .metrics import (
    brier_score,
    calibration_report,
    expected_calibration_error,
    mean_over_datasets,
    multi_label_report,
    probability_metrics,
    single_label_report,
)

__all__ = [
    "CALIBRATION_FILE",
    "Calibration",
    "brier_score",
    "calibration_report",
    "expected_calibration_error",
    "fit_shift_temperature",
    "fit_temperature",
    "fit_thresholds",
    "mean_over_datasets",
    "multi_label_report",
    "probability_metrics",
    "single_label_report",
]
