"""Label-order stability: scores that do not depend on the order the labels were given in.

A uni-encoder reads every label in one sequence, so with absolute (or rotary) positions a label's score depends
on where it sits among the others: permuting the same labels moves the scores (``benchmarks/label_order.py``
measures how much). Two remedies, chosen with ``label_order`` (``Classifier.predict`` and everything above it):

* ``"positions"``: every label segment restarts at the same position id (the position of the first label
  marker), and whatever follows the labels (``<<SEP>>``, prompt, text, examples) continues after the longest
  label. Self-attention is permutation-equivariant, so with positions that do not encode order the label
  vectors are the same whatever the order, up to float error. One pass, no extra cost. It needs a backbone
  whose forward takes ``position_ids`` and uses them as its only positional signal (``POSITION_ID_BACKBONES``)
  and the torch backend (the exported ONNX graphs have no ``position_ids`` input).
* ``"permutations"``: logits averaged over ``permutations`` seeded orders (``n`` passes): any backbone and
  backend, e.g. DeBERTa, whose relative positions cannot be overridden.
* ``"stable"``: the mode that keeps the model's accuracy: ``"permutations"``, or ``"positions"`` for a
  checkpoint trained with order-free label positions (``config.json`` ``"label_positions": "order-free"``).
  Measured on the bundled model (trained with ordinary positions): positions are
  exactly order-invariant at no cost but lose 0.15 macro-F1 on FOLDOC (15 labels); 4 permutations keep
  macro-F1 within the spread of single orders at 4x the cost. Bi-encoders encode each label on its own and are
  order-invariant already, so every mode is the plain run for them.

Both modes start from the canonical order (labels sorted as strings), so the result is a function of the label
*set*: exactly the same scores for any order given, also when a large label set is split into groups.

numpy only; the orchestration (plan, run, average) is ``engine.Engine.run_ordered``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .processing import Request

LABEL_ORDERS = ("given", "stable", "positions", "permutations")
DEFAULT_PERMUTATIONS = 4
PERMUTATION_SEED = 0
ORDER_FREE = "order-free"  # config.json "label_positions" of checkpoints trained with stable_position_ids

# Backbones whose HF forward takes ``position_ids`` and whose only positional signal is the embedding (or
# rotary angle) of those ids -> the id of the first position (RoBERTa-style models start after the padding id).
# Not here: DeBERTa (relative positions computed from the sequence), MPNet (a relative bias computed from the
# sequence as well), T5 (relative buckets), DistilBERT (no ``position_ids`` argument).
POSITION_ID_BACKBONES = {
    "bert": 0,
    "electra": 0,
    "modernbert": 0,
    "roberta": None,
    "xlm-roberta": None,
    "camembert": None,
}


@dataclass(frozen=True)
class OrderPlan:
    """How one call handles label order: ``mode`` is ``"given"``, ``"positions"`` or ``"permutations"``."""

    mode: str = "given"
    permutations: int = 1
    position_offset: int = 0
    canonical: bool = True  # start from the sorted label set (off only to measure the model's own invariance)


def check_label_order(label_order: Any, permutations: Any) -> None:
    """Validate the two options before any model work (front ends call it too)."""
    if label_order not in LABEL_ORDERS:
        raise ValueError(f"label_order must be one of {', '.join(map(repr, LABEL_ORDERS))}, got {label_order!r}")
    if permutations is not None and (
        isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1
    ):
        raise ValueError(f"permutations must be a positive int, got {permutations!r}")


def position_offset(config: Any) -> int | None:
    """The first position id of the uni-encoder's backbone, or None when position ids cannot remove order."""
    if config.architecture_type != "uni-encoder":
        return None
    encoder = config.encoder_config
    model_type = getattr(encoder, "model_type", "")
    if model_type not in POSITION_ID_BACKBONES:
        return None
    if getattr(encoder, "position_embedding_type", "absolute") not in ("absolute", None):
        return None  # relative_key(_query) BERTs compute distances from the sequence
    offset = POSITION_ID_BACKBONES[model_type]
    if offset is None:
        offset = int(getattr(encoder, "pad_token_id", 1) or 0) + 1
    return offset


def trained_order_free(config: Any) -> bool:
    """The checkpoint was trained with order-free label positions, so ``"positions"`` cost it no accuracy."""
    return getattr(config, "extra", {}).get("label_positions") == ORDER_FREE


def resolve_label_order(label_order: str, permutations: int | None, config: Any, backend: str) -> OrderPlan:
    """What ``label_order`` means for this model and backend; ``"positions"`` where impossible raises."""
    check_label_order(label_order, permutations)
    if label_order == "given" or config.architecture_type == "bi-encoder":
        return OrderPlan()
    n = permutations or DEFAULT_PERMUTATIONS
    offset = position_offset(config)
    if label_order == "positions":
        if offset is None:
            kind = getattr(config.encoder_config, "model_type", "?")
            raise ValueError(
                f"label_order='positions' needs a uni-encoder on a backbone with absolute or rotary position ids "
                f"({', '.join(sorted(POSITION_ID_BACKBONES))}); this is a {config.architecture_type} on {kind!r}: "
                "use label_order='permutations' (or 'stable', which picks it)"
            )
        if backend != "torch":
            raise ValueError(
                f"label_order='positions' needs the torch backend (the {backend} graph has no position_ids input): "
                "use label_order='permutations' (or 'stable', which picks it)"
            )
    # "positions" with no offset raised above
    if offset is not None and (
        label_order == "positions" or (label_order == "stable" and trained_order_free(config) and backend == "torch")
    ):
        return OrderPlan("positions", 1, offset)
    return OrderPlan("permutations", n)


# ====================================================================== orders
def label_orders(labels: Sequence[str], plan: OrderPlan, seed: int = PERMUTATION_SEED) -> list[list[int]]:
    """The orders (index lists into ``labels``) to run: the canonical order, then seeded shuffles of it.

    The shuffles permute the *sorted* labels with a fixed seed, so the set of orders, and the averaged result,
    depend on the label set only.
    """
    base = sorted(range(len(labels)), key=lambda i: labels[i]) if plan.canonical else list(range(len(labels)))
    orders = [base]
    rng = np.random.default_rng(seed)
    while len(orders) < plan.permutations:
        orders.append([base[i] for i in rng.permutation(len(base))])
    return orders


def expand_request(request: Request, orders: list[list[list[int]]]) -> Request:
    """Copies of each text, one per order of its labels: text ``i``'s copies are contiguous, in ``orders[i]``."""
    texts, labels, prompts, examples, multi = [], [], [], [], []
    for i, item_orders in enumerate(orders):
        for order in item_orders:
            texts.append(request.texts[i])
            labels.append([request.labels[i][j] for j in order])
            prompts.append(request.prompts[i])
            examples.append(request.examples[i])
            multi.append(request.multi_label[i])
    return replace(
        request, texts=texts, labels=labels, prompts=prompts, examples=examples, multi_label=multi, label_trees=None
    )


def average_orders(logits: list[np.ndarray], orders: list[list[list[int]]]) -> list[np.ndarray]:
    """Per text, the logits of its copies put back in the given order and averaged."""
    out, k = [], 0
    for item_orders in orders:
        total = np.zeros(len(item_orders[0]), dtype=np.float64)
        for order in item_orders:
            total[np.asarray(order, dtype=np.int64)] += logits[k]
            k += 1
        out.append(total / len(item_orders))
    return out


# ====================================================================== position ids
def stable_position_ids(ids: Sequence[int], class_token: int, sep_token: int, offset: int = 0) -> list[int]:
    """Position ids under which every label segment looks the same wherever it sits.

    Tokens before the first ``<<LABEL>>`` keep their positions; each label segment (its marker up to the next
    marker or ``<<SEP>>``) restarts at the first marker's position; ``<<SEP>>`` and everything after continue
    after the longest segment. The largest id is never above the plain layout's, so the window still fits.
    """
    n = len(ids)
    try:
        first = list(ids).index(class_token)
    except ValueError:
        return [offset + i for i in range(n)]
    positions = list(range(first))
    longest, i = 0, first
    while i < n and ids[i] != sep_token:
        length = 0
        while i < n and ids[i] != sep_token and (length == 0 or ids[i] != class_token):
            positions.append(first + length)
            length += 1
            i += 1
        longest = max(longest, length)
    positions.extend(first + longest + k for k in range(n - i))
    return [offset + p for p in positions]
