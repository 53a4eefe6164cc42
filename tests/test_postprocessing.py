"""Activations, thresholds, top-k and chunk aggregation against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from uniclass.postprocessing import activate, aggregate_chunks, normalize_thresholds, select


def test_activations() -> None:
    logits = np.array([0.0, 2.0, -1.0])
    assert activate(logits, True) == pytest.approx([0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))])
    z = sum(math.exp(x) for x in logits)
    assert activate(logits, False) == pytest.approx([math.exp(x) / z for x in logits])
    assert activate(np.array([1000.0, 0.0]), False) == pytest.approx([1.0, 0.0])  # no overflow


def test_select_multi_label_is_inclusive_and_sorted() -> None:
    labels = ["a", "b", "c"]
    scores = np.array([0.5, 0.9, 0.2])
    assert select(labels, scores, multi_label=True, threshold=0.5, top_k=None) == [
        {"label": "b", "score": 0.9},
        {"label": "a", "score": 0.5},
    ]
    assert select(labels, scores, multi_label=True, threshold={"c": 0.1}, top_k=None)[-1]["label"] == "c"
    assert [r["label"] for r in select(labels, scores, multi_label=True, threshold=0.0, top_k=2)] == ["b", "a"]
    assert select(labels, scores, multi_label=False, threshold=0.99, top_k=None) == [{"label": "b", "score": 0.9}]


def test_aggregate_chunks() -> None:
    chunks = [np.array([1.0, -2.0]), np.array([3.0, -4.0])]
    assert aggregate_chunks(chunks, "max").tolist() == [3.0, -2.0]
    assert aggregate_chunks(chunks, "mean").tolist() == [2.0, -3.0]
    with pytest.raises(ValueError):
        aggregate_chunks(chunks, "min")


def test_thresholds_validation() -> None:
    assert normalize_thresholds(0.3, 2) == [0.3, 0.3]
    assert normalize_thresholds([0.1, {"x": 0.2}], 2) == [0.1, {"x": 0.2}]
    for bad in (-0.1, 2, float("nan"), {"x": 3}):
        with pytest.raises(ValueError):
            normalize_thresholds(bad, 1)
    with pytest.raises(TypeError):
        normalize_thresholds("0.5", 1)


def test_resolve_threshold_prefers_the_given_value_then_fitted_thresholds() -> None:
    from types import SimpleNamespace

    from uniclass.postprocessing import DEFAULT_THRESHOLD, check_threshold, resolve_threshold

    fitted = SimpleNamespace(thresholds={"a": 0.3})
    assert resolve_threshold(0.7, fitted) == 0.7
    assert resolve_threshold(None, fitted) == {"a": 0.3}
    assert resolve_threshold(None, SimpleNamespace(thresholds=None)) == DEFAULT_THRESHOLD
    assert resolve_threshold(None, None) == DEFAULT_THRESHOLD
    check_threshold(None)
    with pytest.raises(ValueError):
        check_threshold(1.5)
