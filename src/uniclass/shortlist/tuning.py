"""How many labels to shortlist: ``k`` fitted for a target recall on labelled texts, or a default without data.

Recall here is the fraction of (text, true label) pairs whose true label is among the text's ``k`` retrieved
candidates: a label the retriever misses can never be predicted, so recall bounds what shortlisting keeps of
full scoring's accuracy.
"""

from __future__ import annotations

import math

import numpy as np

from .index import check_k

DEFAULT_RECALL = 0.98
# Without labelled data: sqrt-scaled between these bounds. Measured recall of the model's own encoder at this k
# (`python -m uniclass_lab.bench.shortlist recall`): the k grows slowly with the label count because a few dozen
# candidates already fill most of the window next to a 256-token text, and the pass's cost grows with k.
DEFAULT_K_MIN, DEFAULT_K_MAX = 16, 48


def default_k(n_labels: int) -> int:
    """k when none is fitted: ``clamp(2 * sqrt(n), 16, 48)``, never more than the labels there are."""
    if n_labels < 1:
        raise ValueError("a label set needs at least one label")
    return min(n_labels, max(DEFAULT_K_MIN, min(DEFAULT_K_MAX, math.ceil(2 * math.sqrt(n_labels)))))


def recall_at_k(ranks: np.ndarray, ks: list[int]) -> dict[int, float]:
    """Fraction of true labels ranked within the top k, for each k (``LabelIndex.ranks`` gives the ranks)."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("recall@k needs at least one (text, true label) pair")
    return {int(k): float((ranks <= k).mean()) for k in ks}


def fit_k(ranks: np.ndarray, recall: float = DEFAULT_RECALL, *, n_labels: int | None = None) -> int:
    """The smallest k whose recall on these ranks reaches ``recall`` (at most ``n_labels``)."""
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must be in (0, 1], got {recall!r}")
    ranks = np.sort(np.asarray(ranks, dtype=np.int64))
    if ranks.size == 0:
        raise ValueError("fit_shortlist needs at least one labelled text")
    needed = math.ceil(recall * ranks.size - 1e-9)  # pairs that must be within the top k
    k = int(ranks[max(needed, 1) - 1])
    return check_k(min(k, n_labels) if n_labels else k)
