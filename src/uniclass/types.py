"""Type aliases of the public API's arguments, for annotating code that calls uniclass.

``Classifier.classify``, ``scores``, ``predict``, ``explain``, ``fit`` and ``calibrate`` are annotated with these,
so a type checker sees what each argument accepts; the checks themselves (one-line ``TypeError``/``ValueError``)
happen at call time, in ``uniclass.processing`` and ``uniclass.postprocessing``.

Example:
    >>> from uniclass.types import Labels, Threshold
    >>> def tags(clf, text: str, labels: Labels, threshold: Threshold = 0.5) -> list[str]:
    ...     return [hit["label"] for hit in clf.classify(text, labels, threshold=threshold)]
    >>> tree: Labels = {"sports": None, "finance": ["stocks", "bonds"]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias, TypedDict, Union

if TYPE_CHECKING:  # annotations only: the shortlist package needs numpy work this module must not pull in
    from .shortlist import LabelIndex

__all__ = [
    "Example",
    "Examples",
    "LabelList",
    "LabelTree",
    "Labels",
    "ScoreOptions",
    "Threshold",
    "Thresholds",
    "TrueLabels",
    "WindowOptions",
]

LabelList: TypeAlias = Sequence[str]
"""Candidate labels of a text: ``["sports", "finance"]``."""

# Union[...] rather than `|`: the alias is evaluated at import time and names itself (a recursive tree).
LabelTree: TypeAlias = Mapping[str, Union["LabelTree", LabelList, None]]
"""A label hierarchy: ``{"sports": None, "finance": ["stocks", "bonds"]}`` (a ``None`` value: the key is a label)."""

Labels: TypeAlias = Union[LabelList, LabelTree, Sequence[LabelList | LabelTree], "LabelIndex"]
"""The ``labels`` argument: one list or tree for every text, one list or tree per text, or a ``LabelIndex``."""

Threshold: TypeAlias = float | Mapping[str, float]
"""A multi-label threshold in [0, 1]: one for every label, or a dict label -> threshold."""

Thresholds: TypeAlias = Threshold | Sequence[Threshold]
"""The ``threshold`` argument of ``classify``: one ``Threshold`` for every text, or one per text."""

Example: TypeAlias = Mapping[str, str | Sequence[str]]
"""A labelled example for the prompt: ``{"text": "...", "labels": ["sports"]}``."""

Examples: TypeAlias = Sequence[Example] | Sequence[Sequence[Example] | None]
"""The ``examples`` argument: examples shared by every text, or a list (or ``None``) per text."""

TrueLabels: TypeAlias = Sequence[str | Sequence[str]]
"""Per text, its true label or labels (``fit`` and ``calibrate``): ``["sports", ["finance", "politics"]]``."""


class WindowOptions(TypedDict, total=False):
    """The keyword arguments of ``Classifier.predict`` that ``classify``, ``scores`` and ``explain`` pass on."""

    max_length: int | None
    long_text: str
    chunk_overlap: int
    aggregate: str
    split_labels: bool
    max_batch_tokens: int | None
    label_order: str
    permutations: int | None
    shortlist: int | str | None


class ScoreOptions(WindowOptions, total=False):
    """``WindowOptions`` plus ``show_progress`` (``Classifier.scores`` passes it on to ``predict`` as well)."""

    show_progress: bool | None
