"""The prior meets the model's logits the same way per text and per window (the learned-calibrator path)."""

from __future__ import annotations

import numpy as np

from uniclass.engine import Engine
from uniclass.processing import Request, Segment

LABELS = ["sports", "finance", "travel", "music"]


class FittedPrior:
    """A prior after a few-shot fit: the model trusted at 0.5 on labelled labels, two labels without examples."""

    gates_unlabelled = True

    def logits(self, texts, label_lists, centers=None):
        return [np.array([3.0, -1.0, 0.5, 2.0]) + i for i, _ in enumerate(texts)]

    def model_weights(self, labels):
        return np.array([0.5, 0.5, 1.0, 1.0])

    def has_examples(self, labels):
        return np.array([True, True, False, False])

    def zero_shot_logits(self, texts, label_lists):
        return [np.array([1.0, 0.0, 4.0, -2.0]) for _ in texts]


def engine_with(prior: FittedPrior) -> Engine:
    engine = object.__new__(Engine)  # only the prior is used by the fusion
    engine.prior = prior
    return engine


def request() -> Request:
    texts = ["The striker scored twice", "Shares fell after the call"]
    return Request(texts, [LABELS, LABELS], ["", ""], [[], []], [True, True])


def segment(item: int, offset: int, labels: list[str]) -> Segment:
    return Segment(item=item, label_offset=offset, labels=labels, input_ids=[])


def test_one_window_per_text_fuses_exactly_as_the_text_path() -> None:
    engine, req = engine_with(FittedPrior()), request()
    model = [np.array([0.2, 1.5, -0.3, 0.8]), np.array([-1.0, 2.0, 0.1, 0.4])]
    per_text = engine.with_prior(req, [m.copy() for m in model])
    per_window = engine.window_logits_with_prior(req, [segment(0, 0, LABELS), segment(1, 0, LABELS)], model)
    for text, window in zip(per_text, per_window, strict=True):
        np.testing.assert_allclose(window, text, rtol=1e-6)


def test_window_path_weighs_the_model_and_places_labels_without_examples() -> None:
    engine, req = engine_with(FittedPrior()), request()
    model = np.array([0.2, 1.5, -0.3, 0.8])
    (window,) = engine.window_logits_with_prior(req, [segment(0, 0, LABELS)], [model])
    labelled = 0.5 * model[:2] + np.array([3.0, -1.0])  # the model at half weight plus the prior
    np.testing.assert_allclose(window[:2], labelled, rtol=1e-6)
    # "travel": zero-shot puts it 3 above the best labelled label, so it lands 3 above the best fused labelled score
    zero_shot = model + np.array([1.0, 0.0, 4.0, -2.0])
    assert abs(window[2] - (zero_shot[2] - zero_shot[:2].max() + labelled.max())) < 1e-5
    assert window[2] > labelled.max() > window[3]


def test_a_window_of_some_labels_reads_the_prior_at_their_offset() -> None:
    engine, req = engine_with(FittedPrior()), request()
    model = np.array([0.7, -0.4])
    (window,) = engine.window_logits_with_prior(req, [segment(1, 2, LABELS[2:])], [model])
    # both labels lack examples: nothing to place them against, so the prior is simply added (text 1's prior is +1)
    np.testing.assert_allclose(window, model + np.array([1.5, 3.0]), rtol=1e-6)
