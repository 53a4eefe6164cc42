"""Fitting a learned calibrator: ``Classifier.calibrate(method="learned")`` and the training functions."""

from __future__ import annotations

import shutil
from pathlib import Path

import gliclass  # the reference implementation (test extra)
import numpy as np
import pytest
import torch

from tests import official_reference as ref
from tests.conftest import PARITY, topic_items
from uniclass import Classifier
from uniclass.modeling.calibrator import LearnedCalibrator
from uniclass.training.calibration import Window, fit_global_scaling, train_calibrator, window_nll

LABELS = ["sports", "finance", "weather"]


def _labelled(n: int = 40) -> tuple[list[str], list[list[str]]]:
    items = topic_items(n)
    return [item["text"] for item in items], [item["true_labels"] for item in items]


@pytest.fixture
def tiny(tmp_path: Path) -> Classifier:
    folder = tmp_path / "tiny"
    shutil.copytree(PARITY / "uni_bert_default", folder)
    return Classifier.from_pretrained(folder, device="cpu")


def test_learned_calibration_attaches_a_calibrator_and_reports(tiny: Classifier, one_torch_thread: None) -> None:
    texts, truth = _labelled()
    before = tiny.predict(texts[:3], LABELS)
    report = tiny.calibrate(texts, truth, LABELS, method="learned", hidden_size=16, beta_max=4.0, epochs=5)
    assert tiny.config.use_calibrator and tiny.model.calibrator is not None
    assert tiny.config.calibrator_hidden_size == 16 and tiny.config.calibrator_beta_max == 4.0
    assert report["fit_texts"] == 32 and report["held_out_texts"] == 8
    for metric in ("ece", "brier", "nll"):
        for variant in ("before", "temperature", "learned", "after"):
            assert np.isfinite(report[f"{metric}_{variant}"])
    # it is fitted on the NLL, starting from the global fit, keeping the best held-out NLL: never worse there
    assert report["nll_learned"] <= report["nll_before"] + 1e-6
    after = tiny.predict(texts[:3], LABELS)
    for old, new in zip(before, after, strict=True):
        assert new.initial_scores == pytest.approx(old.scores, abs=1e-6)  # the raw scores are kept
        assert new.scores != pytest.approx(old.scores, abs=1e-4)  # and the calibrated ones differ
    assert "initial_score" in tiny.classify(texts[0], LABELS, threshold=0.0)[0]


def test_single_label_calibration_keeps_the_argmax(tiny: Classifier, one_torch_thread: None) -> None:
    texts, truth = _labelled()
    before = tiny.scores(texts, LABELS, multi_label=False)
    report = tiny.calibrate(texts, truth, LABELS, method="learned", multi_label=False, hidden_size=16, epochs=5)
    assert report["nll_learned"] <= report["nll_before"] + 1e-6
    after = tiny.scores(texts, LABELS, multi_label=False)
    # without a bias beta > 0 scales each logit: the softmax argmax can still move, but not on most texts
    agree = np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(before, after, strict=True)])
    assert agree >= 0.8


def test_fitted_calibrator_saves_and_the_official_package_reloads_it(tiny: Classifier, tmp_path: Path,
                                                                     one_torch_thread: None) -> None:
    texts, truth = _labelled()
    tiny.calibrate(texts, truth, LABELS, method="learned", hidden_size=16, use_bias=True, epochs=5)
    out = tiny.save_pretrained(tmp_path / "saved")
    ours = tiny.scores(ref.TEXTS, LABELS)
    assert ref.max_abs_diff(Classifier.from_pretrained(out, device="cpu").scores(ref.TEXTS, LABELS), ours) <= 1e-6
    with ref.quiet():
        official = gliclass.GLiClassModel.from_pretrained(str(out)).eval()
    assert official.config.use_calibrator and official.config.calibrator_use_bias
    tokenizer = ref.load_tokenizer(out)
    assert ref.max_abs_diff(ref.official_scores(official, tokenizer, ref.TEXTS, LABELS), ours) <= 1e-5


def test_bad_options_fail_with_one_line(tiny: Classifier) -> None:
    texts, truth = _labelled(8)
    with pytest.raises(ValueError, match="method must be"):
        tiny.calibrate(texts, truth, LABELS, method="platt")
    with pytest.raises(TypeError, match="hidden_size"):
        tiny.calibrate(texts, truth, LABELS, hidden_size=8)
    with pytest.raises(ValueError, match="held_out"):
        tiny.calibrate(texts, truth, LABELS, method="learned", held_out=1.5)


# ============================================================================================ the training itself
def _synthetic_windows(n: int, seed: int) -> list[Window]:
    """Two labels with confident logits (|z| = 4): the first one's sign is right, the second one's is a coin flip.

    One temperature must compromise between them; a calibrator that reads the label vector can trust the first
    and distrust the second.
    """
    rng = np.random.default_rng(seed)
    reliable, unreliable = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))  # the same in every split
    windows = []
    for i in range(n):
        targets = torch.tensor(rng.integers(0, 2, size=2), dtype=torch.float32)
        signs = torch.tensor([2 * targets[0] - 1, rng.choice([-1.0, 1.0])], dtype=torch.float32)
        windows.append(Window(item=i, text=torch.randn(8), labels=torch.stack([reliable, unreliable]),
                              logits=4.0 * signs, targets=targets, single_label=False))
    return windows


def test_calibrator_learns_which_labels_to_trust() -> None:
    torch.manual_seed(0)
    train, held = _synthetic_windows(400, 0), _synthetic_windows(200, 1)
    beta0, _ = fit_global_scaling(train)
    calibrator = train_calibrator(LearnedCalibrator(8, hidden_size=16, beta_max=3.0), train, held, beta0, epochs=30,
                                  patience=30)
    batch_logits = torch.stack([w.logits for w in held])
    targets = torch.stack([w.targets for w in held])
    mask = torch.ones_like(targets, dtype=torch.bool)
    single = torch.zeros(len(held), dtype=torch.bool)
    with torch.no_grad():
        beta, bias = calibrator(torch.stack([w.text for w in held]), torch.stack([w.labels for w in held]), batch_logits, mask)
    learned = window_nll(beta * batch_logits + bias, targets, mask, single).mean().item()
    global_fit = window_nll(beta0 * batch_logits, targets, mask, single).mean().item()
    assert beta[:, 0].mean() > 3 * beta[:, 1].mean()  # trusts the reliable label far more
    assert learned < global_fit - 0.05
