"""``uniclass.pipeline``: a drop-in for the transformers zero-shot-classification pipeline, on a GLiClass model.

Code written for ``transformers.pipeline("zero-shot-classification", model=...)`` keeps its calls and its result
handling: the callable takes ``(sequences, candidate_labels, hypothesis_template=None, multi_label=False)`` and
answers ``{"sequence", "labels", "scores"}`` (a list of those for a list of sequences), every candidate present,
sorted by score. What differs is underneath: one encoder pass scores a text against all its labels (an NLI
pipeline runs one pass per label), and there is no hypothesis template: GLiClass reads the bare label names
(a task description goes in ``prompt=``).

Scores follow the transformers pipeline's rules: ``multi_label=False`` gives a softmax over the candidates
(summing to 1), ``multi_label=True``, or a single candidate, gives each label its own probability (sigmoid).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .classifier import Classifier

__all__ = ["DEFAULT_HYPOTHESIS_TEMPLATE", "ZeroShotClassificationPipeline", "pipeline", "rank_labels"]

TASKS = ("zero-shot-classification",)
# transformers' default; a call passing exactly this is treated as passing nothing (no warning)
DEFAULT_HYPOTHESIS_TEMPLATE = "This example is {}."


def pipeline(
    task: str = "zero-shot-classification",
    model: str | Path | Classifier | None = None,
    *,
    device: int | str | None = None,
    **load_options: Any,
) -> ZeroShotClassificationPipeline:
    """A callable with the signature and answers of transformers' zero-shot-classification pipeline.

    Args:
        task: only ``"zero-shot-classification"``.
        model: a GLiClass checkpoint folder or hub id, a loaded ``Classifier``, or None for the bundled default
            model (offline).
        device: as in transformers: ``-1`` for the CPU, ``0``, ``1``... for a CUDA device, or a device string
            (``"cpu"``, ``"cuda:0"``); default ``"auto"``.
        load_options: other ``Classifier.from_pretrained`` options (``precision``, ``max_length``...).

    Example:
        >>> import uniclass
        >>> classifier = uniclass.pipeline("zero-shot-classification")
        >>> out = classifier("The striker scored twice in the derby", candidate_labels=["sports", "finance"])
        >>> out["labels"], round(sum(out["scores"]), 6)
        (['sports', 'finance'], 1.0)
    """
    if task not in TASKS:
        raise ValueError(f"uniclass.pipeline supports task 'zero-shot-classification' only, got {task!r}")
    from .classifier import Classifier

    if isinstance(model, Classifier):
        if device is not None or load_options:
            raise ValueError(
                "device and load options apply when the pipeline loads the model; this one is already loaded"
            )
        return ZeroShotClassificationPipeline(model)
    classifier = Classifier.from_pretrained(model, device=_torch_device(device), **load_options)
    return ZeroShotClassificationPipeline(classifier)


class ZeroShotClassificationPipeline:
    """transformers' zero-shot-classification call on a ``Classifier``.

    Args:
        classifier: the loaded model; ``pipeline(...)`` builds one.

    Example:
        >>> import uniclass
        >>> classifier = uniclass.pipeline("zero-shot-classification")
        >>> classifier(["I loved the battery life", "The screen cracked"], "positive, negative")[1]["labels"]
        ['negative', 'positive']
    """

    task = "zero-shot-classification"

    def __init__(self, classifier: Classifier):
        self.classifier = classifier

    @property
    def model(self) -> Classifier:
        """The ``Classifier`` underneath (transformers pipelines expose their model here too)."""
        return self.classifier

    def __call__(
        self,
        sequences: str | Sequence[str],
        candidate_labels: str | Sequence[str] | None = None,
        hypothesis_template: str | None = None,
        multi_label: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Score every candidate label for each sequence.

        Args:
            sequences: one text or a list of texts.
            candidate_labels: a list of labels or one comma-separated string (``"urgent, phone"``).
            hypothesis_template: an NLI template such as ``"This example is {}."``. GLiClass models read bare label
                names, so it is checked as transformers checks it (it must contain ``{}``) and then not used, with a
                warning unless it is transformers' default; give a task description with ``prompt=`` instead.
            multi_label: False: softmax over the candidates (scores sum to 1); True: one sigmoid per label. With a
                single candidate the score is its own probability, as in transformers.
            kwargs: passed to ``Classifier.scores`` (``prompt``, ``examples``, ``batch_size``, ``adapter``...).

        Returns:
            ``{"sequence", "labels", "scores"}`` with labels sorted by score, highest first; a list of those when
            ``sequences`` is a list.
        """
        texts, labels = _check_inputs(sequences, candidate_labels)
        _check_template(hypothesis_template)
        independent = bool(multi_label) or len(labels) == 1
        scores = self.classifier.scores(texts, labels, multi_label=independent, **kwargs)
        results = [rank_labels(text, labels, row) for text, row in zip(texts, scores, strict=True)]
        return results[0] if isinstance(sequences, str) else results


def rank_labels(sequence: str, labels: Sequence[str], scores: Sequence[float]) -> dict[str, Any]:
    """``{"sequence", "labels", "scores"}`` with the labels sorted by score, highest first (ties: given order).

    Example:
        >>> rank_labels("a text", ["x", "y", "z"], [0.1, 0.7, 0.2])
        {'sequence': 'a text', 'labels': ['y', 'z', 'x'], 'scores': [0.7, 0.2, 0.1]}
    """
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], i))
    return {"sequence": sequence, "labels": [labels[i] for i in order], "scores": [float(scores[i]) for i in order]}


def parse_labels(candidate_labels: Any) -> list[str]:
    """A label list, or one comma-separated string split and stripped (empty pieces dropped), as transformers does.

    Example:
        >>> parse_labels("urgent, not urgent,,phone")
        ['urgent', 'not urgent', 'phone']
    """
    if isinstance(candidate_labels, str):
        return [label.strip() for label in candidate_labels.split(",") if label.strip()]
    if isinstance(candidate_labels, Sequence) and all(isinstance(label, str) for label in candidate_labels):
        return list(candidate_labels)
    if isinstance(candidate_labels, Sequence) and not isinstance(candidate_labels, (bytes, bytearray)):
        # name the entry that is not a string: "got list" alone would name what the user meant to pass
        bad = next(x for x in candidate_labels if not isinstance(x, str))
        got = f"a list holding {type(bad).__name__} {bad!r}"
    else:
        got = type(candidate_labels).__name__
    raise TypeError(f"candidate_labels must be a list of strings or a comma-separated string, got {got}")


def _check_inputs(sequences: Any, candidate_labels: Any) -> tuple[list[str], list[str]]:
    if candidate_labels is None:
        raise TypeError("missing candidate_labels: pass candidate_labels=[...] (or a comma-separated string)")
    labels = parse_labels(candidate_labels)
    texts = [sequences] if isinstance(sequences, str) else sequences
    if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"sequences must be a string or a list of strings, got {type(sequences).__name__}")
    if not labels or not texts:
        # transformers' own message, so code that matches on it keeps working
        raise ValueError("You must include at least one label and at least one sequence.")
    return list(texts), labels


def _check_template(hypothesis_template: str | None) -> None:
    """transformers' check of the template, then a warning that GLiClass does not use it."""
    if hypothesis_template is None or hypothesis_template == DEFAULT_HYPOTHESIS_TEMPLATE:
        return
    try:
        formatted = hypothesis_template.format("label") if isinstance(hypothesis_template, str) else None
    except (IndexError, KeyError, ValueError):  # "{} {}", "{label}", "{": str.format's own errors
        formatted = None
    if formatted is None or formatted == hypothesis_template:
        raise ValueError(
            f'The provided hypothesis_template "{hypothesis_template}" was not able to be formatted with the target '
            "labels. Make sure the passed template includes formatting syntax such as {} where the label should go."
        )
    warnings.warn(
        f"hypothesis_template {hypothesis_template!r} is ignored: GLiClass models score bare label names, not NLI "
        "hypotheses; to describe the task, pass prompt='...' (placed before each text)",
        stacklevel=3,
    )


def _torch_device(device: int | str | None) -> str:
    """transformers' device numbers (-1: CPU, n: cuda:n) as torch device strings; None is ``"auto"``."""
    if device is None:
        return "auto"
    if isinstance(device, bool):
        raise TypeError("device must be an int, a device string or None")
    if isinstance(device, int):
        return "cpu" if device < 0 else f"cuda:{device}"
    return str(device)
