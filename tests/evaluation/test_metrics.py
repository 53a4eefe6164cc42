"""Metrics against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from uniclass.evaluation import (
    brier_score,
    expected_calibration_error,
    mean_over_datasets,
    multi_label_report,
    single_label_report,
)
from uniclass.evaluation import metrics as metrics_module


def test_docstring_examples_run():
    result = doctest.testmod(metrics_module)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------------------------------
# single_label_report
# ----------------------------------------------------------------------------------------------------------------------


def test_single_label_report_by_hand():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    report = single_label_report(y_true, y_pred, labels=["a", "b", "c"])
    # correct at positions 0, 1, 3, 5 -> 4 / 6
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["n"] == 6
    per = report["per_label"]
    assert list(per) == ["a", "b", "c"]
    # a: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 2*2 / (2*2 + 0 + 1) = 0.8
    assert per["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    # b: tp 1 (pos 3), fp 1 (pos 2), fn 1 (pos 4) -> P 0.5, R 0.5, F1 0.5
    assert per["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # c: tp 1 (pos 5), fp 1 (pos 4), fn 0 -> P 0.5, R 1, F1 2 / 3
    assert per["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    # macro = (0.8 + 0.5 + 2/3) / 3
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_label_without_support_or_predictions_counts_as_zero():
    report = single_label_report(["a", "b"], ["a", "b"], labels=["a", "b", "z"])
    assert report["accuracy"] == 1.0
    assert report["per_label"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # macro over all three given labels: (1 + 1 + 0) / 3
    assert report["macro_f1"] == pytest.approx(2 / 3)


def test_label_predicted_but_never_true():
    report = single_label_report(["a", "a"], ["a", "b"], labels=["a", "b"])
    # a: tp 1, fn 1 -> P 1, R 0.5, F1 2/3;  b: tp 0, fp 1 -> P 0, R 0 (no support), F1 0
    assert report["per_label"]["a"]["f1"] == pytest.approx(2 / 3)
    assert report["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx(1 / 3)
    assert report["accuracy"] == 0.5


def test_single_label_all_correct_and_all_wrong():
    right = single_label_report(["a", "b", "b"], ["a", "b", "b"], labels=["a", "b"])
    assert right["accuracy"] == 1.0 and right["macro_f1"] == 1.0
    wrong = single_label_report(["a", "b"], ["b", "a"], labels=["a", "b"])
    assert wrong["accuracy"] == 0.0 and wrong["macro_f1"] == 0.0
    assert wrong["per_label"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "message"),
    [
        ([], [], ["a"], "empty"),
        (["a"], ["a", "a"], ["a"], "entries"),
        (["a"], ["a"], [], "labels is empty"),
        (["a"], ["a"], ["a", "a"], "duplicate"),
        (["x"], ["a"], ["a"], "y_true contains labels outside"),
        (["a"], ["x"], ["a"], "y_pred contains labels outside"),
    ],
)
def test_single_label_report_rejects_bad_input(y_true, y_pred, labels, message):
    with pytest.raises(ValueError, match=message):
        single_label_report(y_true, y_pred, labels)


# ----------------------------------------------------------------------------------------------------------------------
# multi_label_report
# ----------------------------------------------------------------------------------------------------------------------

LABELS = ["x", "y", "z"]
TRUE = [{"x"}, {"x", "y"}, set()]
SCORES = [[0.9, 0.4, 0.7], [0.6, 0.5, 0.1], [0.2, 0.3, 0.1]]


def test_multi_label_report_by_hand():
    report = multi_label_report([LABELS] * 3, TRUE, SCORES, threshold=0.5)
    # predictions (>= 0.5, inclusive): item 0 {x, z}, item 1 {x, y}, item 2 {}
    # x: tp 2 -> F1 1;  y: tp 1 -> F1 1;  z: fp 1 -> F1 0
    assert report["per_label"]["x"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert report["per_label"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # micro: tp 3, fp 1, fn 0 -> P 3/4, R 1, F1 6 / (6 + 1)
    assert report["precision"] == pytest.approx(0.75)
    assert report["recall"] == 1.0
    assert report["micro_f1"] == pytest.approx(6 / 7)
    assert report["macro_f1"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3
    assert report["subset_accuracy"] == pytest.approx(2 / 3)  # items 1 and 2 exact
    assert report["n"] == 3 and report["threshold"] == 0.5


def test_multi_label_report_per_label_thresholds():
    report = multi_label_report([LABELS] * 3, TRUE, SCORES, threshold={"z": 0.8})
    # z needs 0.8 now, so item 0 predicts {x}: every decision is right
    assert report["micro_f1"] == 1.0 and report["subset_accuracy"] == 1.0
    # z has no support and is never predicted: F1 0 still enters the macro average (1 + 1 + 0) / 3
    assert report["macro_f1"] == pytest.approx(2 / 3)
    assert report["threshold"] == {"z": 0.8}


def test_multi_label_report_with_different_candidates_per_item():
    report = multi_label_report(
        labels_per_item=[["a", "b"], ["c"]],
        true_per_item=[{"a"}, {"c"}],
        scores_per_item=[[0.8, 0.3], [0.4]],
    )
    # a: tp 1 -> F1 1;  b: nothing -> 0;  c: fn 1 -> 0;  micro: tp 1, fp 0, fn 1 -> P 1, R 1/2, F1 2/3
    assert list(report["per_label"]) == ["a", "b", "c"]
    assert report["macro_f1"] == pytest.approx(1 / 3)
    assert (report["precision"], report["recall"]) == (1.0, 0.5)
    assert report["micro_f1"] == pytest.approx(2 / 3)
    assert report["subset_accuracy"] == 0.5


def test_multi_label_report_all_wrong():
    report = multi_label_report([["a", "b"]], [{"a"}], [[0.1, 0.9]])
    # tp 0, fp 1, fn 1
    for key in ("micro_f1", "macro_f1", "precision", "recall", "subset_accuracy"):
        assert report[key] == 0.0


@pytest.mark.parametrize(
    ("labels", "true", "scores", "threshold", "message"),
    [
        ([], [], [], 0.5, "empty"),
        ([["a"]], [{"a"}, set()], [[0.5]], 0.5, "aligned"),
        ([["a", "b"]], [{"a"}], [[0.5]], 0.5, "2 labels but 1 scores"),
        ([["a"]], [{"b"}], [[0.5]], 0.5, "not among its candidates"),
        ([["a", "a"]], [{"a"}], [[0.5, 0.5]], 0.5, "duplicate"),
        ([["a"]], [{"a"}], [[0.5]], 1.5, r"\[0, 1\]"),
        ([["a"]], [{"a"}], [[0.5]], {"a": -0.1}, r"\[0, 1\]"),
    ],
)
def test_multi_label_report_rejects_bad_input(labels, true, scores, threshold, message):
    with pytest.raises(ValueError, match=message):
        multi_label_report(labels, true, scores, threshold=threshold)


# ----------------------------------------------------------------------------------------------------------------------
# expected_calibration_error / brier_score
# ----------------------------------------------------------------------------------------------------------------------


def test_ece_by_hand():
    probs = np.array([0.1, 0.2, 0.7, 0.8, 0.95])
    targets = np.array([0, 1, 1, 0, 1])
    # 5 bins: [0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]
    # [0, .2]:   0.1, 0.2 (right edge)  -> |sum t - sum p| = |1 - 0.3|  = 0.7
    # (.6, .8]:  0.7, 0.8               -> |1 - 1.5|        = 0.5
    # (.8, 1]:   0.95                   -> |1 - 0.95|       = 0.05
    # ECE = (0.7 + 0.5 + 0.05) / 5 = 0.25
    assert expected_calibration_error(probs, targets, n_bins=5) == pytest.approx(0.25)
    # one bin: |mean t - mean p| = |3/5 - 2.75/5| = 0.05
    assert expected_calibration_error(probs, targets, n_bins=1) == pytest.approx(0.05)


def test_ece_extremes():
    assert expected_calibration_error(np.array([0.0, 1.0, 1.0]), np.array([0, 1, 1])) == 0.0
    assert expected_calibration_error(np.array([0.5, 0.5]), np.array([0, 1])) == 0.0  # right half the time
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([0, 1])) == 1.0


def test_ece_and_brier_honour_the_mask():
    probs = np.array([[0.9, 0.1, 0.5], [0.3, 0.3, 0.3]])
    targets = np.array([[1, 0, 0], [0, 0, 0]])
    mask = np.array([[True, True, False], [True, False, False]])
    # kept: (0.9, 1), (0.1, 0), (0.3, 0); 10 bins
    # ECE = (|1 - 0.9| + |0 - 0.1| + |0 - 0.3|) / 3 = 0.5 / 3
    assert expected_calibration_error(probs, targets, n_bins=10, mask=mask) == pytest.approx(0.5 / 3)
    # Brier = (0.01 + 0.01 + 0.09) / 3
    assert brier_score(probs, targets, mask=mask) == pytest.approx(0.11 / 3)


def test_brier_by_hand():
    # ((0.9 - 1)^2 + (0.2 - 0)^2 + (0.5 - 1)^2) / 3 = (0.01 + 0.04 + 0.25) / 3 = 0.1
    assert brier_score(np.array([0.9, 0.2, 0.5]), np.array([1, 0, 1])) == pytest.approx(0.1)
    assert brier_score(np.array([1.0, 0.0]), np.array([1, 0])) == 0.0
    assert brier_score(np.array([1.0, 0.0]), np.array([0, 1])) == 1.0


@pytest.mark.parametrize("metric", [expected_calibration_error, brier_score])
def test_probability_metrics_reject_bad_input(metric):
    with pytest.raises(ValueError, match="empty"):
        metric(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="empty"):
        metric(np.array([0.5]), np.array([1]), mask=np.array([False]))
    with pytest.raises(ValueError, match="shape"):
        metric(np.array([0.5, 0.5]), np.array([1]))
    with pytest.raises(ValueError, match="probs must lie"):
        metric(np.array([1.5]), np.array([1]))
    with pytest.raises(ValueError, match="targets must lie"):
        metric(np.array([0.5]), np.array([2]))


@pytest.mark.parametrize("n_bins", [0, -1, 2.5, True])
def test_ece_rejects_bad_bin_counts(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.array([0.5]), np.array([1]), n_bins=n_bins)


# ----------------------------------------------------------------------------------------------------------------------
# mean_over_datasets
# ----------------------------------------------------------------------------------------------------------------------


def test_mean_over_datasets():
    reports = {"news": {"macro_f1": 0.5, "accuracy": 1.0}, "emotion": {"macro_f1": 0.9, "accuracy": 0.5}}
    assert mean_over_datasets(reports) == pytest.approx(0.7)  # (0.5 + 0.9) / 2, each dataset once
    assert mean_over_datasets(reports, key="accuracy") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no reports"):
        mean_over_datasets({})
    with pytest.raises(KeyError, match="micro_f1"):
        mean_over_datasets(reports, key="micro_f1")
