"""SmoothQuant for int8: the smoothing is exact in float32; int8 uses it; 8-bit activations where VNNI allows."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import PARITY
from torch import nn

from uniclass.backends import precision as prec
from uniclass.backends.smoothquant import (
    CALIBRATION_LABELS, CALIBRATION_TEXTS, FullRangeDynamicLinear, SmoothedLinear, calibrate, full_range_activations,
    smooth_bert, smoothing_scales,
)

TEXTS = ["A short text about football.", "The parliament voted on the budget bill late on Tuesday night."]
LABELS = ["sports", "politics", "economy", "weather"]


def _classifier(name: str = "uni_bert_default"):
    from uniclass import Classifier

    return Classifier.from_pretrained(PARITY / name, device="cpu")


def test_scales_follow_the_formula() -> None:
    activation = torch.tensor([4.0, 1.0, 0.25])
    weight = torch.tensor([[1.0, -2.0, 0.5], [0.5, 1.0, -4.0]])
    scales = smoothing_scales(activation, weight, alpha=0.5)
    assert torch.allclose(scales, torch.tensor([4.0 ** 0.5 / 1.0 ** 0.5, 1.0 / 2.0 ** 0.5, 0.5 / 2.0]))


def test_calibrate_records_per_channel_maxima() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    x = torch.tensor([[1.0, -5.0, 0.5], [-2.0, 1.0, 0.25]])
    maxima = calibrate(model, lambda: model(x))
    assert list(maxima) == ["0"] and torch.equal(maxima["0"], torch.tensor([2.0, 5.0, 0.5]))
    assert not model[0]._forward_pre_hooks  # hooks removed


@pytest.mark.parametrize("name", ["uni_bert_default", "biencoder_bert"])
def test_smoothing_is_exact_in_fp32(name: str) -> None:
    clf = _classifier(name)
    reference = clf.scores(TEXTS, LABELS, multi_label=True)
    model = clf.backend.model
    names = prec.int8_layer_names(model, keep_down_projections=False)
    maxima = calibrate(model, lambda: clf.scores(list(CALIBRATION_TEXTS), list(CALIBRATION_LABELS)), names)
    assert set(maxima) == set(names)
    smoothed = smooth_bert(model, maxima, alpha=0.5)
    modules = dict(model.named_modules())
    assert any(isinstance(modules[n.rsplit(".linear", 1)[0]], SmoothedLinear) for n in smoothed if n.endswith(".linear"))
    assert any(n.endswith("attention.output.dense") and isinstance(modules[n], nn.Linear) for n in smoothed)  # folded into V
    clf.reset_caches()
    got = clf.scores(TEXTS, LABELS, multi_label=True)
    assert max(abs(a - b) for g, r in zip(got, reference) for a, b in zip(g, r)) <= 1e-5


def test_int8_is_smoothed_and_closer_than_plain() -> None:
    """On the machine's real CPU: full-range (8-bit) activations only where VNNI makes them safe (without it, fbgemm's
    AVX2 kernel saturates int16 sums, so pretending to have VNNI would only measure that saturation)."""
    from uniclass import Classifier

    reference = _classifier().scores(TEXTS, LABELS, multi_label=True)
    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="int8")
    assert clf.backend.precision == "int8"
    modules = list(clf.backend.model.modules())
    assert any(isinstance(m, SmoothedLinear) for m in modules)
    assert any(isinstance(m, FullRangeDynamicLinear) for m in modules) == prec.vnni()
    got = clf.scores(TEXTS, LABELS, multi_label=True)
    assert max(abs(a - b) for g, r in zip(got, reference) for a, b in zip(g, r)) <= 0.15


def test_full_range_only_with_vnni(monkeypatch) -> None:
    assert prec.vnni(frozenset({"avx2"})) is False and prec.vnni(frozenset({"avx_vnni"})) is True
    monkeypatch.setattr(prec, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    model = _classifier().backend.model
    prec.apply_precision(model, "int8")
    assert not any(isinstance(m, FullRangeDynamicLinear) for m in model.modules())
    assert full_range_activations(model) > 0
    assert any(isinstance(m, FullRangeDynamicLinear) for m in model.modules())
