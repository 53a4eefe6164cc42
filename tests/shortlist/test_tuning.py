"""default_k, fit_k and recall@k."""

from __future__ import annotations

import numpy as np
import pytest

from uniclass.shortlist import default_k, fit_k, recall_at_k


def test_default_k_grows_slowly_and_never_exceeds_the_label_count():
    assert default_k(1) == 1 and default_k(8) == 8 and default_k(16) == 16
    assert default_k(128) == 23 and default_k(1000) == 48 and default_k(10_000) == 48
    assert all(default_k(n) <= default_k(n + 1) for n in range(1, 3000))
    with pytest.raises(ValueError):
        default_k(0)


def test_recall_at_k():
    assert recall_at_k(np.array([1, 2, 3, 10]), [1, 3, 10]) == {1: 0.25, 3: 0.75, 10: 1.0}
    with pytest.raises(ValueError):
        recall_at_k(np.array([]), [1])


def test_fit_k_is_the_smallest_k_reaching_the_recall():
    ranks = np.array([1] * 90 + [5] * 8 + [40, 70])
    assert fit_k(ranks, 0.9) == 1
    assert fit_k(ranks, 0.98) == 5
    assert fit_k(ranks, 0.99) == 40
    assert fit_k(ranks, 1.0) == 70
    assert fit_k(ranks, 1.0, n_labels=50) == 50
    for bad in (0.0, 1.5, -1):
        with pytest.raises(ValueError, match="recall"):
            fit_k(ranks, bad)
    with pytest.raises(ValueError, match="at least one"):
        fit_k(np.array([]), 0.9)
