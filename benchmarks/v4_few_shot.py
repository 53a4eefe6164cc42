"""Few-shot with support-chosen signal weights (``python benchmarks/v4_study.py few-shot``).

Per text ``x`` and label ``l`` three signals, all from ``v4_study.py collect``'s cache:

* ``u``: the uni-encoder's logit (the model alone);
* ``zs``: the prior's zero-shot term, the standardised cosine to the label's prompt vector, centred per text;
* ``pr``: the raw cosine to the label's prototype (unit mean of the prompt vector and the label's support vectors),
  centred per text.

A fit scores ``model * u + prompt * zs + prototype * pr``. Today's ``fit`` is ``(1, 0, 80)``, the prototype
baseline ``(0, 0, 1)``, zero-shot ``(1, 80, 0)``. The weights are chosen per task from the support set alone by
leave-one-out (``training.fit.choose_signal_weights``, the library's own function): each support text is scored with
its own label's prototype rebuilt without it, and the grid point with the best leave-one-out accuracy wins (ties to
today's weights, then to the earlier grid point). Rows, macro-F1 on the 200 test texts:

* ``prototype baseline``, ``fused zero-shot``, ``fit today``;
* ``fit v4`` (the support-chosen weights);
* ``oracle`` (the best grid point on the test texts: a ceiling, never a choice);
* partly labelled: support texts for every other label only (sorted order), macro-F1 over all labels and over the
  labels without examples, for zero-shot, today's fit and v4.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from uniclass.evaluation.metrics import single_label_report
from uniclass.training.fit import SIGNAL_GRID, choose_signal_weights, signal_scores  # library code under test
from v4_study import PROTOCOL, ROOT, load_cache, log_variant, zero_shot_prior

WEIGHT = 80.0
TODAY = (1.0, 0.0, WEIGHT)


def macro_f1(scores: np.ndarray, gold: np.ndarray, labels: list[str], only: list[int] | None = None) -> float:
    predicted = scores.argmax(1)
    report = single_label_report([labels[g] for g in gold], [labels[p] for p in predicted], sorted(labels))
    if only is None:
        return float(report["macro_f1"])
    per = report["per_label"]
    return float(np.mean([per[labels[j]]["f1"] for j in only]))


def evaluate_set(data: dict[str, Any], labelled: np.ndarray | None = None) -> dict[str, Any]:
    labels, gold = data["labels"], data["gold"].argmax(1)
    keep = np.ones(len(data["sgold"]), dtype=bool) if labelled is None else labelled[data["sgold"]]
    x_sup, sgold, u_sup = data["x_sup"][keep], data["sgold"][keep], data["u_sup"][keep]
    zs_test = zero_shot_prior(data["x_test"], data["prompts"], data["bias"], data["factor"], 1.0)
    zs_sup = zero_shot_prior(x_sup, data["prompts"], data["bias"], data["factor"], 1.0)
    chosen, loo = choose_signal_weights(u_sup, zs_sup, x_sup, sgold, data["prompts"])
    def score(w: tuple[float, float, float]) -> np.ndarray:
        return signal_scores(data["u_test"], zs_test, data["x_test"], x_sup, sgold, data["prompts"], w)

    row = {"prototype baseline": macro_f1(score((0.0, 0.0, 1.0)), gold, labels),
           "fused zero-shot": macro_f1(score((1.0, WEIGHT, 0.0)), gold, labels),
           "fit today": macro_f1(score(TODAY), gold, labels),
           "fit v4": macro_f1(score(chosen), gold, labels),
           "chosen": list(chosen), "loo_accuracy": loo,
           "oracle": max(macro_f1(score(w), gold, labels) for w in SIGNAL_GRID)}
    if labelled is not None:
        missing = [j for j in range(len(labels)) if not labelled[j]]
        row = {k: v for k, v in row.items() if k in ("chosen", "loo_accuracy")}
        for name, w in (("fused zero-shot", (1.0, WEIGHT, 0.0)), ("fit v4", chosen)):
            row[name] = macro_f1(score(w), gold, labels)
            row[name + " (labels without examples)"] = macro_f1(score(w), gold, labels, missing)
        # today's fit in a partly labelled set: prototype labels at 80 x raw cosine, the others standardised prompts
        today = data["u_test"] + WEIGHT * _today_partial(data, x_sup, sgold, labelled)
        row["fit today"] = macro_f1(today, gold, labels)
        row["fit today (labels without examples)"] = macro_f1(today, gold, labels, missing)
    return row


def _today_partial(data: dict[str, Any], x_sup: np.ndarray, sgold: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    from uniclass.training.fit import prototype_matrix

    protos = prototype_matrix(data["prompts"], x_sup, sgold)
    cos = data["x_test"] @ protos.T
    std = (data["x_test"] @ data["prompts"].T - data["bias"][None]) * data["factor"][None]
    mixed = np.where(labelled[None, :], cos, std)
    return mixed - mixed.mean(1, keepdims=True)


def run(args: argparse.Namespace) -> None:
    names = [*PROTOCOL["selection"], *PROTOCOL["report_only"]]
    if not args.report:
        names = list(PROTOCOL["selection"])
    result: dict[str, Any] = {"full": {}, "partial": {}}
    names = [n for n in names if (args.cache / f"{n}.npz").is_file() or n in PROTOCOL["selection"]]
    for name in names:
        data = load_cache(args.cache, name)
        result["full"][name] = evaluate_set(data)
        labelled = np.arange(len(data["labels"])) % 2 == 0
        result["partial"][name] = evaluate_set(data, labelled)
    rows = ["prototype baseline", "fused zero-shot", "fit today", "fit v4", "oracle"]
    sel = PROTOCOL["selection"]
    summary = {r: float(np.mean([result["full"][s][r] for s in sel])) for r in rows}
    worst = min(result["full"][s]["fit v4"] - result["full"][s]["prototype baseline"] for s in sel)
    log_variant("few-shot", args.rule, {"selection_mean": summary, "worst_vs_prototypes": worst,
                                         "grid_points": len(SIGNAL_GRID), "report_only_scored": bool(args.report)})
    result["selection_mean"], result["worst_vs_prototypes"] = summary, worst
    out = ROOT / "benchmarks" / "results" / ("v4_few_shot.json" if args.report else "v4_few_shot_selection.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("| set | " + " | ".join(rows) + " | chosen (model, prompt, prototype) |")
    print("|---|" + "---|" * (len(rows) + 1))
    for s in names:
        r = result["full"][s]
        print(f"| {s} | " + " | ".join(f"{r[k]:.3f}" for k in rows) + f" | {tuple(r['chosen'])} |")
    print("| selection mean | " + " | ".join(f"{summary[k]:.3f}" for k in rows) + " | |")
    print(f"worst set, fit v4 minus prototypes: {worst:+.3f}")
    print("\npartly labelled (every other label has examples): all labels / labels without examples")
    for s in names:
        r = result["partial"][s]
        print(f"| {s} | " + " | ".join(f"{r[k]:.3f} / {r[k + ' (labels without examples)']:.3f}"
                                       for k in ("fused zero-shot", "fit today", "fit v4")) + f" | {tuple(r['chosen'])} |")
