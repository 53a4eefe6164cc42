"""Structured decisions: from label scores to an answer that respects the structure of the label set.

``classify`` keeps labels by ``threshold`` (multi-label) or takes the best one (single-label). These rules
go on top, in this order, for each text:

1. **candidates**: multi-label: every label with score >= its ``threshold``; single-label: the best label
   (or the ``top_k`` best);
2. **exclusive groups** (``groups=[["positive", "negative", "neutral"], ...]``): at most one label of a group
   is kept, the best-scoring candidate; a group with no candidate gets its best label forced in, so each group
   contributes exactly one label (unless ``abstain`` forbids it, below);
3. **min_labels**: while fewer labels are kept, the best remaining labels are added (never a second label of
   an exclusive group);
4. **max_labels** (and ``top_k``): only the best that many are kept;
5. **abstain** (``abstain=0.3``): a floor nothing goes below: no label under it is kept, whatever the threshold,
   the groups, ``min_labels`` or single-label's argmax say. If no label reaches it, the answer is empty:
   "none of these". In multi-label mode a label thus needs ``score >= max(threshold, abstain)``; in
   single-label mode the (softmax) best label is returned only if it reaches ``abstain``.
6. **hierarchy** (dict labels, ``hierarchy=True``): a kept label ``"a.b.x"`` brings in its ancestors ``"a"`` and
   ``"a.b"``; an ancestor's score is the highest score among the leaves below it, so a parent never scores below
   any of its children and never appears without a kept child (ancestors are not counted by ``min_labels`` and
   ``max_labels``; they go first in the answer: ties with a child rank the parent first).

Scores are those of ``Classifier.scores`` (after calibration); ``abstain`` therefore reads a calibrated
probability when the classifier was calibrated. numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .postprocessing import Threshold, label_threshold, select
from .processing import LABEL_SEPARATOR


@dataclass(frozen=True)
class DecisionRules:
    """The structured-decision options of one call (see the module docstring for what each does)."""

    abstain: float | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    min_labels: int = 0
    max_labels: int | None = None
    hierarchy: bool = False

    @property
    def active(self) -> bool:
        """Anything beyond the plain ``select``?"""
        return bool(
            self.abstain is not None or self.groups or self.min_labels or self.max_labels is not None or self.hierarchy
        )


def make_rules(
    *, abstain: Any = None, groups: Any = None, min_labels: Any = 0, max_labels: Any = None, hierarchy: Any = False
) -> DecisionRules:
    """Validated ``DecisionRules``; ``ValueError``/``TypeError`` name the bad option."""
    if abstain is not None:
        if isinstance(abstain, bool) or not isinstance(abstain, (int, float)):
            raise TypeError(f"abstain must be a number in [0, 1] or None, got {type(abstain).__name__}")
        if not 0.0 <= float(abstain) <= 1.0:
            raise ValueError(f"abstain={abstain} is outside [0, 1]")
        abstain = float(abstain)
    for name, value in (("min_labels", min_labels), ("max_labels", max_labels)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    if max_labels is not None and max_labels < 1:
        raise ValueError(f"max_labels must be >= 1 (use abstain for 'none of these'), got {max_labels}")
    min_labels = min_labels or 0
    if max_labels is not None and min_labels > max_labels:
        raise ValueError(f"min_labels={min_labels} is larger than max_labels={max_labels}")
    if not isinstance(hierarchy, bool):
        raise TypeError(f"hierarchy must be a bool, got {type(hierarchy).__name__}")
    return DecisionRules(abstain, _check_groups(groups), min_labels, max_labels, hierarchy)


def _check_groups(groups: Any) -> tuple[tuple[str, ...], ...]:
    if groups is None:
        return ()
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TypeError("groups must be a list of label lists, e.g. [['positive', 'negative', 'neutral']]")
    out = []
    owner: dict[str, int] = {}  # label -> the group that has it: a label in two exclusive groups would be lost
    for g, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
            raise TypeError(f"groups[{g}] must be a list of labels, got {type(group).__name__}")
        if len(group) < 2:
            raise ValueError(f"groups[{g}] has {len(group)} label(s); an exclusive group needs at least 2")
        for label in group:
            if not isinstance(label, str):
                raise TypeError(f"groups[{g}] must hold str labels, got {type(label).__name__} ({label!r})")
        if len(set(group)) != len(group):
            raise ValueError(f"groups[{g}] names a label twice")
        for label in group:
            if label in owner:
                raise ValueError(
                    f"{label!r} is in groups[{owner[label]}] and groups[{g}]; exclusive groups must not "
                    "overlap (one group's choice would silently remove the other's)"
                )
            owner[label] = g
        out.append(tuple(group))
    return tuple(out)


def check_rules_against(rules: DecisionRules, labels: Sequence[str], tree: Any, where: str = "labels") -> None:
    """Group labels must be among the text's labels; ``hierarchy`` needs dict (tree) labels."""
    known = set(labels)
    for g, group in enumerate(rules.groups):
        unknown = [label for label in group if label not in known]
        if unknown:
            raise ValueError(f"groups[{g}] names {unknown[0]!r}, which is not among {where}")
    if rules.hierarchy and not isinstance(tree, Mapping):
        raise ValueError(
            "hierarchy=True needs hierarchical labels: a dict such as {'sentiment': ['positive', 'negative']}"
        )


# ====================================================================== the decision
def decide(
    labels: Sequence[str],
    scores: np.ndarray,
    *,
    multi_label: bool,
    threshold: Threshold,
    top_k: int | None,
    rules: DecisionRules,
    tree: Any = None,
) -> list[dict[str, Any]]:
    """``[{"label", "score"}]`` best first, following the rules of the module docstring."""
    if not rules.active:
        return select(labels, scores, multi_label=multi_label, threshold=threshold, top_k=top_k)
    floor = rules.abstain if rules.abstain is not None else -np.inf
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], i))
    if multi_label:
        candidates = [i for i in order if scores[i] >= label_threshold(threshold, labels[i])]
    else:
        candidates = order[: top_k or 1]
    group_of = _group_index(labels, rules.groups)
    kept: list[int] = []
    taken: set[int] = set()  # groups that already have their label

    def add(i: int) -> None:
        if i in kept or scores[i] < floor or group_of.get(i, set()) & taken:
            return
        kept.append(i)
        taken.update(group_of.get(i, set()))

    for i in candidates:
        add(i)
    for g, group in enumerate(rules.groups):
        if g not in taken:
            members = {labels.index(label) for label in group}
            for i in order:
                if i in members:
                    add(i)
                    break
    for i in order:
        if len(kept) >= rules.min_labels:
            break
        add(i)
    kept.sort(key=lambda i: (-scores[i], i))
    cap = min(x for x in (rules.max_labels, top_k, len(kept)) if x is not None)
    kept = kept[:cap]
    out = [{"label": labels[i], "score": float(scores[i])} for i in kept]
    if rules.hierarchy and isinstance(tree, Mapping):
        out = with_ancestors(out, tree, labels, scores)
    return out


def _group_index(labels: Sequence[str], groups: tuple[tuple[str, ...], ...]) -> dict[int, set[int]]:
    index = {label: i for i, label in enumerate(labels)}
    out: dict[int, set[int]] = {}
    for g, group in enumerate(groups):
        for label in group:
            if label in index:
                out.setdefault(index[label], set()).add(g)
    return out


# ====================================================================== hierarchy
def ancestor_paths(tree: Any, prefix: str = "", separator: str = LABEL_SEPARATOR) -> dict[str, list[str]]:
    """Each flattened leaf label of a dict tree -> its ancestors' paths, root first (read from the tree, so a
    label that contains the separator itself, e.g. ``"U.S."``, is not mistaken for a path)."""
    out: dict[str, list[str]] = {}

    def walk(node: Any, path: str, above: list[str]) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                inner = f"{path}{separator}{key}" if path else key
                if child is None:  # a label itself (``flatten_label_tree``)
                    out[inner] = above
                else:
                    walk(child, inner, [*above, inner])
            return
        for leaf in [node] if isinstance(node, str) else node:
            out[f"{path}{separator}{leaf}" if path else leaf] = above

    walk(tree, prefix, [])
    return out


def node_scores(tree: Any, labels: Sequence[str], scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Every inner node of the tree -> the highest score among the leaves below it.

    The rule "a child implies its parent" makes P(parent) >= P(child) for every child, and the max is the
    smallest score with that property, so it never contradicts the leaves.
    """
    ancestors = ancestor_paths(tree)
    out: dict[str, float] = {}
    for label, score in zip(labels, scores, strict=True):
        for path in ancestors.get(label, ()):
            out[path] = max(out.get(path, -np.inf), float(score))
    return out


def with_ancestors(
    kept: list[dict[str, Any]], tree: Any, labels: Sequence[str], scores: Sequence[float] | np.ndarray
) -> list[dict[str, Any]]:
    """``kept`` plus the ancestors of each kept label, ordered by score, a parent before its children on ties."""
    ancestors = ancestor_paths(tree)
    inner = node_scores(tree, labels, scores)
    names = {item["label"] for item in kept}
    depth = {item["label"]: len(ancestors.get(item["label"], ())) for item in kept}
    extra = []
    for item in kept:
        for d, path in enumerate(ancestors.get(item["label"], ())):
            if path not in names:
                names.add(path)
                depth[path] = d
                extra.append({"label": path, "score": inner[path]})
    return sorted(kept + extra, key=lambda item: (-item["score"], depth[item["label"]]))


def tree_of(kept: list[dict[str, Any]], tree: Mapping[str, Any], separator: str = LABEL_SEPARATOR) -> dict[str, Any]:
    """The kept labels (with their ancestors, see ``with_ancestors``) as ``{name: {"score": s, "children": {...}}}``,
    in the input tree's order; only kept nodes appear, so every child sits under its kept parent."""
    scores = {item["label"]: item["score"] for item in kept}

    def walk(node: Any, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(node, Mapping):
            for key, child in node.items():
                inner = f"{path}{separator}{key}" if path else key
                if inner in scores:
                    out[key] = {"score": scores[inner]}
                    if child is not None:
                        out[key]["children"] = walk(child, inner)
            return out
        for leaf in [node] if isinstance(node, str) else node:
            full = f"{path}{separator}{leaf}" if path else leaf
            if full in scores:
                out[leaf] = {"score": scores[full]}
        return out

    return walk(tree, "")
