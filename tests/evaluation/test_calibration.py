"""Temperature scaling, per-label thresholds and the saved calibration file."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

from uniclass.evaluation import (
    CALIBRATION_FILE,
    Calibration,
    calibration_report,
    fit_shift_temperature,
    fit_temperature,
    fit_thresholds,
    multi_label_report,
)
from uniclass import calibration as calibration_module


def test_docstring_examples_run():
    result = doctest.testmod(calibration_module)
    assert result.attempted > 0 and result.failed == 0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _multi_label_data(n: int = 20_000, scale: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets drawn from sigmoid(true logit); the model reports scale * true logit."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0.0, 2.0, size=n)
    targets = (rng.random(n) < _sigmoid(true_logits)).astype(np.int64)
    return scale * true_logits, targets


def _single_label_data(
    n: int = 20_000, k: int = 5, scale: float = 3.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn from softmax(true logits); the model reports scale * true logits."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0.0, 1.5, size=(n, k))
    probs = np.exp(true_logits - true_logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    draws = rng.random((n, 1))
    classes = np.minimum((probs.cumsum(axis=1) < draws).sum(axis=1), k - 1)
    return scale * true_logits, classes


# ----------------------------------------------------------------------------------------------------------------------
# Calibration object
# ----------------------------------------------------------------------------------------------------------------------


def test_apply_divides_by_the_temperature():
    calibration = Calibration(temperature=4.0)
    np.testing.assert_allclose(calibration.apply(np.array([[8.0, -2.0]])), [[2.0, -0.5]])
    assert Calibration().temperature == 1.0 and Calibration().thresholds is None


def test_save_load_round_trip(tmp_path):
    calibration = Calibration(temperature=2.5, thresholds={"sports": 0.3, "politics": 0.65})
    path = calibration.save(tmp_path / "checkpoint")
    assert path == tmp_path / "checkpoint" / CALIBRATION_FILE == tmp_path / "checkpoint" / "calibration.json"
    assert json.loads(path.read_text()) == {"temperature": 2.5, "thresholds": {"politics": 0.65, "sports": 0.3}, "shift": 0.0}
    assert Calibration.load(tmp_path / "checkpoint") == calibration
    assert Calibration.load(tmp_path) is None  # no calibration.json there
    assert Calibration.from_dict({"temperature": 2}) == Calibration(temperature=2.0)


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_invalid_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        Calibration(temperature=temperature)


def test_invalid_fields():
    with pytest.raises(TypeError):
        Calibration(temperature="2")
    with pytest.raises(ValueError, match="'a'"):
        Calibration(thresholds={"a": 1.5})
    with pytest.raises(ValueError, match="unknown"):
        Calibration.from_dict({"temperature": 1.0, "bias": 0.0})


# ----------------------------------------------------------------------------------------------------------------------
# fit_temperature
# ----------------------------------------------------------------------------------------------------------------------


def test_fit_temperature_by_hand_multi_label():
    # logit +2 is right 3 times in 4, logit -2 likewise: the NLL is smallest where sigmoid(2 / T) = 3/4,
    # i.e. 2 / T = ln 3, T = 2 / ln 3
    logits = np.array([2.0, 2.0, 2.0, 2.0, -2.0, -2.0, -2.0, -2.0])
    targets = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    assert fit_temperature(logits, targets) == pytest.approx(2 / math.log(3), rel=1e-5)


def test_fit_temperature_by_hand_single_label():
    # two classes: softmax([2, 0] / T)[0] = sigmoid(2 / T); class 0 is right 3 times in 4 -> T = 2 / ln 3
    logits = np.tile([2.0, 0.0], (4, 1))
    classes = np.array([0, 0, 0, 1])
    assert fit_temperature(logits, classes, multi_label=False) == pytest.approx(2 / math.log(3), rel=1e-5)


def test_fit_temperature_recovers_over_confidence_multi_label():
    logits, targets = _multi_label_data()
    temperature = fit_temperature(logits, targets)
    assert temperature == pytest.approx(3.0, rel=0.10)
    report = calibration_report(logits, targets, temperature)
    assert report["ece_after"] < report["ece_before"]
    assert report["brier_after"] < report["brier_before"]
    assert report["temperature"] == temperature


def test_fit_temperature_recovers_under_confidence():
    logits, targets = _multi_label_data(scale=0.5, seed=1)
    assert fit_temperature(logits, targets) == pytest.approx(0.5, rel=0.10)


def test_fit_temperature_recovers_over_confidence_single_label():
    logits, classes = _single_label_data()
    temperature = fit_temperature(logits, classes, multi_label=False)
    assert temperature == pytest.approx(3.0, rel=0.10)
    one_hot = np.eye(logits.shape[1])[classes]
    assert fit_temperature(logits, one_hot, multi_label=False) == temperature
    report = calibration_report(logits, classes, temperature, multi_label=False)
    assert report["ece_after"] < report["ece_before"]
    assert report["brier_after"] < report["brier_before"]


def test_padding_is_ignored():
    logits, classes = _single_label_data(n=2_000)
    padded = np.concatenate([logits, np.full((len(logits), 2), 50.0)], axis=1)  # two padded labels, huge logits
    mask = np.concatenate([np.ones(logits.shape, bool), np.zeros((len(logits), 2), bool)], axis=1)
    expected = fit_temperature(logits, classes, multi_label=False)
    assert fit_temperature(padded, classes, mask, multi_label=False) == pytest.approx(expected, rel=1e-6)

    flat_logits, targets = _multi_label_data(n=2_000)
    grid_logits = np.stack([flat_logits, np.full_like(flat_logits, -30.0)], axis=1)
    grid_targets = np.stack([targets, np.zeros_like(targets)], axis=1)
    grid_mask = np.stack([np.ones(len(targets), bool), np.zeros(len(targets), bool)], axis=1)
    assert fit_temperature(grid_logits, grid_targets, grid_mask) == pytest.approx(
        fit_temperature(flat_logits, targets), rel=1e-6
    )


def test_fit_temperature_edge_cases():
    # every logit zero: the likelihood ignores T
    assert fit_temperature(np.zeros(4), np.array([0, 1, 0, 1])) == 1.0
    # perfectly separated data: sharper is always better, so the lower bound
    assert fit_temperature(np.array([1.0, -1.0]), np.array([1, 0])) == pytest.approx(0.05, rel=1e-4)
    assert fit_temperature(np.array([1.0, -1.0]), np.array([1, 0]), bounds=(0.5, 2.0)) == pytest.approx(0.5, rel=1e-4)
    # deterministic
    logits, targets = _multi_label_data(n=1_000)
    assert fit_temperature(logits, targets) == fit_temperature(logits, targets)


@pytest.mark.parametrize(
    ("logits", "targets", "mask", "multi_label", "message"),
    [
        (np.array([]), np.array([]), None, True, "empty"),
        (np.array([1.0, 2.0]), np.array([1]), None, True, "shape"),
        (np.array([1.0, np.nan]), np.array([1, 0]), None, True, "finite"),
        (np.array([1.0]), np.array([2]), None, True, r"\[0, 1\]"),
        (np.array([1.0, 2.0]), np.array([0, 0]), np.array([False, False]), True, "nothing"),
        (np.array([1.0, 2.0]), np.array([1, 0]), np.array([False, True]), True, "masked-out"),
        (np.array([[1.0, 2.0]]), np.array([2]), None, False, "class indices"),
        (np.array([[1.0, 2.0]]), np.array([0.5]), None, False, "integers"),
        (np.array([[1.0, 2.0]]), np.array([[1, 1]]), None, False, "one-hot"),
        (np.array([[1.0, 2.0]]), np.array([1]), np.array([[True, False]]), False, "masked-out"),
        (np.array([[1.0, 2.0]] * 2), np.array([0, 0]), np.array([[True, True], [False, False]]), False, "unmasked"),
    ],
)
def test_fit_temperature_rejects_bad_input(logits, targets, mask, multi_label, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(logits, targets, mask, multi_label=multi_label)


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (2.0, 1.0), (1.0, math.inf)])
def test_fit_temperature_rejects_bad_bounds(bounds):
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(np.array([1.0]), np.array([1]), bounds=bounds)


# ----------------------------------------------------------------------------------------------------------------------
# calibration_report
# ----------------------------------------------------------------------------------------------------------------------


def test_calibration_report_by_hand_multi_label():
    # logit 2 ln 3 -> sigmoid = 9 / (9 + 1) = 0.9; with T = 2: sigmoid(ln 3) = 0.75. Outcomes: 3 of 4 positive.
    logits = np.full(4, 2 * math.log(3))
    targets = np.array([1, 1, 1, 0])
    report = calibration_report(logits, targets, temperature=2.0)
    assert report["ece_before"] == pytest.approx(0.15)  # |0.75 - 0.9|
    assert report["ece_after"] == pytest.approx(0.0, abs=1e-12)  # |0.75 - 0.75|
    assert report["brier_before"] == pytest.approx(0.21)  # (3 * 0.1^2 + 0.9^2) / 4 = (0.03 + 0.81) / 4
    assert report["brier_after"] == pytest.approx(0.1875)  # (3 * 0.25^2 + 0.75^2) / 4 = (0.1875 + 0.5625) / 4
    assert report["temperature"] == 2.0


def test_calibration_report_by_hand_single_label_with_padding():
    # softmax([ln 3, 0]) = [0.75, 0.25]; with T = 0.5: softmax([2 ln 3, 0]) = [0.9, 0.1]. Class 0 in 3 rows of 4.
    logits = np.tile([math.log(3), 0.0, 7.0], (4, 1))  # third column is padding
    mask = np.tile([True, True, False], (4, 1))
    classes = np.array([0, 0, 0, 1])
    report = calibration_report(logits, classes, temperature=0.5, mask=mask, multi_label=False)
    # before: column 0 has p 0.75 and hit rate 3/4, column 1 has p 0.25 and hit rate 1/4 -> ECE 0
    assert report["ece_before"] == pytest.approx(0.0, abs=1e-12)
    # Brier over 8 entries: column 0: 3 * 0.25^2 + 0.75^2 = 0.75; column 1 likewise -> 1.5 / 8
    assert report["brier_before"] == pytest.approx(0.1875)
    # after: |0.75 - 0.9| in one bin and |0.25 - 0.1| in another, each holding half the entries -> 0.15
    assert report["ece_after"] == pytest.approx(0.15)
    # column 0: 3 * 0.1^2 + 0.9^2 = 0.84; column 1 likewise -> 1.68 / 8
    assert report["brier_after"] == pytest.approx(0.21)


def test_calibration_report_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        calibration_report(np.array([1.0]), np.array([1]), temperature=0.0)


# ----------------------------------------------------------------------------------------------------------------------
# fit_thresholds
# ----------------------------------------------------------------------------------------------------------------------

GRID = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
THRESHOLD_LABELS = ["a", "b", "c"]
THRESHOLD_SCORES = [
    [0.9, 0.35, 0.2],  # gold {a, b}
    [0.6, 0.25, 0.4],  # gold {a}
    [0.55, 0.1, 0.3],  # gold {}
    [0.2, 0.45, 0.1],  # gold {b}
]
THRESHOLD_TRUE = [{"a", "b"}, {"a"}, set(), {"b"}]


def test_fit_thresholds_by_hand():
    thresholds = fit_thresholds(THRESHOLD_LABELS, THRESHOLD_SCORES, THRESHOLD_TRUE, GRID)
    # a: positives score 0.9, 0.6; negatives 0.55, 0.2
    #    t <= 0.2: tp 2, fp 2 -> F1 4/6;  0.3..0.5: tp 2, fp 1 -> 4/5;  0.6: tp 2 -> 1;  >= 0.7: tp 1, fn 1 -> 2/3
    # b: positives 0.35, 0.45; negatives 0.25, 0.1
    #    0.1: tp 2, fp 2 -> 4/6;  0.2: tp 2, fp 1 -> 4/5;  0.3: tp 2 -> 1;  0.4: tp 1, fn 1 -> 2/3;  >= 0.5: 0
    # c: no positives -> default 0.5
    assert thresholds == {"a": 0.6, "b": 0.3, "c": 0.5}
    report = multi_label_report([THRESHOLD_LABELS] * 4, THRESHOLD_TRUE, THRESHOLD_SCORES, threshold=thresholds)
    assert report["micro_f1"] == 1.0 and report["subset_accuracy"] == 1.0
    # the same data at a flat 0.5 is worse: a predicts 0.9, 0.6, 0.55 (fp 1); b predicts nothing (fn 2)
    assert multi_label_report([THRESHOLD_LABELS] * 4, THRESHOLD_TRUE, THRESHOLD_SCORES)["micro_f1"] < 1.0


def test_fit_thresholds_breaks_ties_towards_the_default():
    scores = [[0.9], [0.1]]
    true = [{"a"}, set()]
    # every grid value separates the two examples (F1 1): the one nearest 0.5 wins
    assert fit_thresholds(["a"], scores, true, [0.2, 0.45, 0.7]) == {"a": 0.45}
    # equally near: the smaller one
    assert fit_thresholds(["a"], scores, true, [0.25, 0.75]) == {"a": 0.25}
    # F1 0 at every grid value: keep the default
    assert fit_thresholds(["a"], [[0.05], [0.01]], true, [0.5, 0.9], default=0.7) == {"a": 0.7}


def test_fit_thresholds_default_grid():
    thresholds = fit_thresholds(["a"], [[0.9], [0.3]], [{"a"}, set()])
    # F1 1 for every t in (0.3, 0.9]: grid 0.31 .. 0.90; the nearest to 0.5 is 0.5
    assert thresholds == {"a": 0.5}
    thresholds = fit_thresholds(["a"], [[0.9], [0.8]], [{"a"}, set()])
    assert thresholds == {"a": 0.81}  # only 0.81 .. 0.90 separate 0.9 from 0.8; 0.81 is nearest to 0.5


@pytest.mark.parametrize(
    ("labels", "scores", "true", "grid", "message"),
    [
        ([], [], [], None, "labels"),
        (["a", "a"], [[0.1, 0.2]], [set()], None, "labels"),
        (["a"], [[0.1, 0.2]], [set()], None, "shape"),
        (["a"], np.zeros((0, 1)), [], None, "empty"),
        (["a"], [[0.1]], [{"b"}], None, "outside"),
        (["a"], [[0.1]], [{"a"}], [1.5], "grid"),
        (["a"], [[0.1]], [{"a"}], [], "grid"),
    ],
)
def test_fit_thresholds_rejects_bad_input(labels, scores, true, grid, message):
    with pytest.raises(ValueError, match=message):
        fit_thresholds(labels, scores, true, grid)


def test_shift_moves_sigmoid_but_not_softmax_ranking():
    calibration = Calibration(temperature=2.0, shift=6.0)
    assert np.allclose(calibration.apply(np.array([6.0, 8.0])), [0.0, 1.0])
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    with pytest.raises(ValueError, match="shift"):
        Calibration(shift=math.nan)


def test_fit_shift_temperature_recovers_a_known_logistic():
    rng = np.random.default_rng(0)
    logits = rng.uniform(0, 12, size=20000)
    true_shift, true_temperature = 7.0, 0.8
    targets = rng.random(20000) < 1 / (1 + np.exp(-(logits - true_shift) / true_temperature))
    shift, temperature = fit_shift_temperature(logits, targets.astype(float))
    assert abs(shift - true_shift) < 0.1 and abs(temperature - true_temperature) < 0.1
    with pytest.raises(ValueError, match="both true and false"):
        fit_shift_temperature(logits, np.ones_like(logits))


def test_multi_label_terms_by_hand():
    """z = logits - shift - slope * ln L + relative * T_r * log_softmax(logits / T_r), divided by the temperature."""
    calibration = Calibration(temperature=2.0, shift=1.0, label_count_slope=0.5, relative=2.0, relative_temperature=4.0)
    logits = np.array([6.0, 2.0, -2.0])
    log_softmax = logits / 4.0 - math.log(np.exp(logits / 4.0).sum())
    expected = (logits - 1.0 - 0.5 * math.log(3) + 2.0 * 4.0 * log_softmax) / 2.0
    np.testing.assert_allclose(calibration.apply(logits, multi_label=True), expected)
    # single-label scores: only shift and temperature (a softmax already compares a text's labels)
    np.testing.assert_allclose(calibration.apply(logits), (logits - 1.0) / 2.0)
    # a batch of texts: the terms are per row
    np.testing.assert_allclose(calibration.apply(np.stack([logits, logits]), multi_label=True)[1], expected)


def test_the_relative_term_keeps_a_dominant_label_and_lowers_the_rest():
    calibration = Calibration(relative=1.0, relative_temperature=1.0)
    z = calibration.apply(np.array([10.0, 0.0]), multi_label=True)
    assert abs(z[0] - 10.0) < 1e-3 and z[1] < -9.9


def test_older_files_round_trip_unchanged_and_new_keys_load(tmp_path):
    old = Calibration(temperature=4.96, shift=7.2)
    assert old.to_dict() == {"temperature": 4.96, "thresholds": None, "shift": 7.2}  # no new keys written
    new = Calibration(temperature=3.0, shift=2.0, label_count_slope=1.0, relative=0.5, relative_temperature=4.96)
    new.save(tmp_path)
    assert Calibration.load(tmp_path) == new


@pytest.mark.parametrize("field", ["label_count_slope", "relative", "relative_temperature"])
def test_invalid_multi_label_terms(field):
    with pytest.raises(ValueError, match=field if field != "relative_temperature" else "relative"):
        Calibration(**{field: float("nan")})
    if field != "label_count_slope":
        with pytest.raises(ValueError, match="relative"):
            Calibration(**{field: -1.0})
