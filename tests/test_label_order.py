"""Label-order stability: position ids that do not encode order, seeded permutations, and their errors."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from tests.conftest import load_expected
from uniclass.label_order import (
    OrderPlan,
    average_orders,
    label_orders,
    resolve_label_order,
    stable_position_ids,
)
from uniclass.processing import WindowPolicy, normalize_request

TEXTS = load_expected("uni_bert_default")["texts"][:3]
LABELS = ["sports", "business and finance", "science", "health care", "question", "music"]


def by_label(labels, rows):
    return np.array([[dict(zip(labels, row))[label] for label in LABELS] for row in rows])


def shuffled(seed: int) -> list[str]:
    labels = LABELS[:]
    random.Random(seed).shuffle(labels)
    return labels


def spread(clf, **options) -> float:
    runs = [by_label(labels, clf.scores(TEXTS, labels, **options)) for labels in map(shuffled, range(4))]
    stacked = np.stack(runs)
    return float((stacked.max(0) - stacked.min(0)).max())


def test_stable_position_ids() -> None:
    c, s = 7, 9  # <<LABEL>>, <<SEP>>
    # [CLS] t t <<LABEL>> a a a <<LABEL>> b <<SEP>> p [SEP]
    ids = [101, 1, 2, c, 5, 5, 5, c, 6, s, 3, 102]
    assert stable_position_ids(ids, c, s) == [0, 1, 2, 3, 4, 5, 6, 3, 4, 7, 8, 9]
    assert stable_position_ids(ids, c, s, offset=2)[0] == 2
    assert stable_position_ids([101, 1, 102], c, s) == [0, 1, 2]  # no labels: plain positions
    swapped = [101, 1, 2, c, 6, c, 5, 5, 5, s, 3, 102]
    assert max(stable_position_ids(swapped, c, s)) == max(stable_position_ids(ids, c, s))


def test_orders_depend_on_the_label_set_only() -> None:
    plan = OrderPlan("permutations", 4)
    a = [[LABELS[i] for i in order] for order in label_orders(LABELS, plan)]
    other = shuffled(3)
    b = [[other[i] for i in order] for order in label_orders(other, plan)]
    assert a == b and len(a) == 4 and a[0] == sorted(LABELS)
    logits = [np.arange(3.0)[order] for order in ([2, 0, 1], [1, 2, 0])]
    assert average_orders(logits, [[[2, 0, 1], [1, 2, 0]]])[0].tolist() == [0.0, 1.0, 2.0]


def test_given_order_moves_scores_and_stable_modes_do_not(parity_classifier) -> None:
    clf = parity_classifier("uni_bert_default")
    assert spread(clf) > 0.01  # the problem
    for mode in ("stable", "positions", "permutations"):
        assert spread(clf, label_order=mode) < 1e-5


def test_positions_alone_make_the_model_order_invariant(parity_classifier) -> None:
    """Without the canonical sort, the position ids themselves remove the order (up to float error)."""
    clf = parity_classifier("uni_bert_default")
    plan = dataclasses.replace(resolve_label_order("positions", None, clf.config, "torch"), canonical=False)
    runs = []
    for labels in map(shuffled, range(3)):
        _, predictions = clf.engine.run_ordered(normalize_request(TEXTS, labels), WindowPolicy(clf.max_length), plan,
                                                batch_size=8)
        runs.append(by_label(labels, [p.scores for p in predictions]))
    stacked = np.stack(runs)
    assert float((stacked.max(0) - stacked.min(0)).max()) < 1e-4


def test_stable_picks_positions_only_for_checkpoints_trained_order_free(parity_classifier) -> None:
    config = parity_classifier("uni_bert_default").config
    assert resolve_label_order("stable", None, config, "torch").mode == "permutations"
    before = dict(config.extra)
    try:
        config.extra["label_positions"] = "order-free"
        assert resolve_label_order("stable", None, config, "torch").mode == "positions"
        assert resolve_label_order("stable", None, config, "onnx").mode == "permutations"
    finally:
        config.extra.clear()
        config.extra.update(before)


def test_deberta_falls_back_to_permutations_and_positions_raise(parity_classifier) -> None:
    clf = parity_classifier("uni_deberta_default")
    assert resolve_label_order("stable", None, clf.config, "torch").mode == "permutations"
    assert resolve_label_order("stable", 3, clf.config, "torch").permutations == 3
    with pytest.raises(ValueError, match="label_order='permutations'"):
        clf.scores(TEXTS, LABELS, label_order="positions")
    assert spread(clf, label_order="stable", permutations=2) < 1e-5


def test_positions_need_torch_and_bi_encoders_are_already_invariant(parity_classifier) -> None:
    config = parity_classifier("uni_bert_default").config
    with pytest.raises(ValueError, match="torch backend"):
        resolve_label_order("positions", None, config, "onnx")
    assert resolve_label_order("stable", None, config, "onnx").mode == "permutations"
    bi = parity_classifier("biencoder_bert").config
    assert resolve_label_order("stable", None, bi, "torch").mode == "given"


@pytest.mark.parametrize(("order", "n"), [("sorted", None), ("stable", 0), ("stable", True), ("stable", 1.5)])
def test_bad_label_order_options(parity_classifier, order, n) -> None:
    clf = parity_classifier("uni_bert_default")
    with pytest.raises(ValueError, match="label_order|permutations"):
        clf.scores(TEXTS, LABELS, label_order=order, permutations=n)


def test_stable_keeps_chunking_and_groups_consistent(parity_classifier) -> None:
    clf = parity_classifier("uni_bert_default")
    many = [f"label number {i}" for i in range(40)]
    with pytest.warns(UserWarning, match="separate groups"):
        a = clf.scores(TEXTS[0], many, label_order="stable", max_length=64)
    with pytest.warns(UserWarning, match="separate groups"):
        b = clf.scores(TEXTS[0], many[::-1], label_order="stable", max_length=64)
    assert a == pytest.approx(b[::-1], abs=1e-6)
    with pytest.warns(UserWarning, match="separate groups"):
        predictions = clf.predict(TEXTS[0], many, label_order="permutations", permutations=2, max_length=64)
    assert predictions[0].labels == many and predictions[0].label_groups > 1
