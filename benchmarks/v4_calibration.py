"""Confidence of the default model in multi-label mode (``python benchmarks/v4_study.py calibration``).

Fused zero-shot logits ``f`` (model + prior, from ``v4_study.py collect``) are turned into sigmoid scores by

    z = a * ((f - shift - slope * ln L) + relative * T0 * log_softmax(f / T0))        T0 = the shipped 4.96

(``Calibration.apply(..., multi_label=True)`` with the keys ``shift``, ``label_count_slope``, ``relative`` and
``temperature = 1 / a``). The decision boundary at the default threshold 0.5 (``z = 0``) depends on ``shift``,
``slope`` and ``relative`` only; they are chosen on a grid by protocol v4's criterion (the highest mean rate of
single-label selection texts whose gold label comes back, with at most 1.5 labels per text on the selection sets' mean and
gcide_multi half A micro-F1 at least the shipped calibration's). The scale ``a`` is then fitted by binary NLL on the
pooled selection pairs (each set weighted equally), which leaves every decision unchanged. Report-only sets are
scored after the choice.
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import Any

import numpy as np

from uniclass.evaluation.metrics import brier_score, expected_calibration_error
from v4_study import PROTOCOL, ROOT, load_cache, log_variant, zero_shot_prior

T0 = 4.96  # the shipped temperature: the scale of the relative term (a softmax at the single-label temperature)
SHIPPED = {"shift": 7.2, "slope": 0.0, "relative": 0.0, "a": 1 / 4.96}
SHIFTS = np.unique(np.append(np.arange(-6.0, 16.01, 0.5), 7.2))  # the shipped shift included
SLOPES = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
RELATIVES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def fused(data: dict[str, Any], weight: float = 80.0) -> np.ndarray:
    return data["u_test"] + zero_shot_prior(data["x_test"], data["prompts"], data["bias"], data["factor"], weight)


def boundary(f: np.ndarray, shift: float, slope: float, relative: float) -> np.ndarray:
    """``z / a``: the calibrated logit before the scale."""
    scaled = f / T0
    log_softmax = scaled - np.log(np.exp(scaled - scaled.max(1, keepdims=True)).sum(1, keepdims=True)) - scaled.max(1, keepdims=True)
    return f - shift - slope * np.log(f.shape[1]) + relative * T0 * log_softmax


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def micro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & (gold > 0)).sum())
    fp, fn = float((pred & (gold == 0)).sum()), float((~pred & (gold > 0)).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1e-12)


def set_metrics(f: np.ndarray, gold: np.ndarray, params: dict[str, float]) -> dict[str, float]:
    z = params["a"] * boundary(f, params["shift"], params["slope"], params["relative"])
    probs = sigmoid(z)
    pred = probs >= 0.5
    out = {"labels_per_text": float(pred.sum(1).mean()), "ece": expected_calibration_error(probs, gold),
           "brier": brier_score(probs, gold), "micro_f1": micro_f1(pred, gold),
           "none_returned": float((pred.sum(1) == 0).mean())}
    if (gold.sum(1) == 1).all():
        out["gold_returned"] = float(pred[gold > 0].mean())
    return out


def load_sets(cache: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sets = {}
    for name in [*PROTOCOL["selection"], *PROTOCOL["report_only"]]:
        if name in PROTOCOL["report_only"] and not (cache / f"{name}.npz").is_file():
            print(f"{name}: not collected, left out")
            continue
        data = load_cache(cache, name)
        sets[name] = (fused(data), data["gold"])
    multi = load_cache(cache, "gcide_multi")
    f, part = fused(multi), multi["part"]
    sets["gcide_multi_a"], sets["gcide_multi_b"] = (f[part == 0], multi["gold"][part == 0]), (f[part == 1], multi["gold"][part == 1])
    return sets


def decisions(sets: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str], shift: float, slope: float,
              relative: float) -> dict[str, dict[str, float]]:
    """Per set, the decision metrics at 0.5 (the scale does not matter for them)."""
    out = {}
    for name in names:
        f, gold = sets[name]
        pred = boundary(f, shift, slope, relative) >= 0
        row = {"labels_per_text": float(pred.sum(1).mean()), "micro_f1": micro_f1(pred, gold)}
        if (gold.sum(1) == 1).all():
            row["gold_returned"] = float(pred[gold > 0].mean())
        out[name] = row
    return out


def choose(sets: dict[str, tuple[np.ndarray, np.ndarray]], family: str, grid: list[tuple[float, float, float]],
           floor: float) -> dict[str, Any]:
    """The grid point that wins protocol v4's confidence criterion on the selection sets."""
    single, multi = list(PROTOCOL["selection"]), list(PROTOCOL["selection_multi"])
    best: dict[str, Any] | None = None
    for shift, slope, relative in grid:
        rows = decisions(sets, single + multi, shift, slope, relative)
        # protocol v4: the selection sets' mean labels per text at most 1.5 (a per-set maximum, tried first, is
        # broken by the shipped calibration itself: foldoc 2.0), half-A micro-F1 at least the shipped one's
        if np.mean([rows[s]["labels_per_text"] for s in single]) > 1.5 or min(rows[m]["micro_f1"] for m in multi) < floor:
            continue
        gold = float(np.mean([rows[s]["gold_returned"] for s in single]))
        if best is None or gold > best["gold_returned"] + 1e-9:
            best = {"shift": shift, "slope": slope, "relative": relative, "gold_returned": gold,
                    "labels_per_text": float(np.mean([rows[s]["labels_per_text"] for s in single])),
                    "multi_a_micro_f1": rows[multi[0]]["micro_f1"]}
    log_variant("calibration", family, {"grid_points": len(grid), "best": best})
    if best is None:
        raise SystemExit(f"{family}: no grid point meets the constraints")
    return best


def fit_scale(sets: dict[str, tuple[np.ndarray, np.ndarray]], params: dict[str, float]) -> float:
    """``a`` minimising the mean over selection sets of the binary NLL (golden section on log a)."""
    names = [*PROTOCOL["selection"], *PROTOCOL["selection_multi"]]
    terms = [(boundary(sets[n][0], params["shift"], params["slope"], params["relative"]), sets[n][1]) for n in names]

    def nll(log_a: float) -> float:
        total = 0.0
        for z, gold in terms:
            zz = np.exp(log_a) * z
            total += float(np.mean(np.logaddexp(0, zz) - gold * zz))
        return total / len(terms)

    low, high = np.log(0.005), np.log(5.0)
    for _ in range(80):
        m1, m2 = low + (high - low) * 0.382, low + (high - low) * 0.618
        low, high = (low, m2) if nll(m1) < nll(m2) else (m1, high)
    return float(np.exp((low + high) / 2))


def run(args: argparse.Namespace) -> None:
    sets = load_sets(args.cache)
    floor = decisions(sets, PROTOCOL["selection_multi"], SHIPPED["shift"], 0.0, 0.0)[PROTOCOL["selection_multi"][0]]["micro_f1"]
    families = {
        "shift only": [(s, 0.0, 0.0) for s in SHIFTS],
        "shift + label-count slope": [(s, b, 0.0) for s, b in itertools.product(SHIFTS, SLOPES)],
        "shift + relative term": [(s, 0.0, r) for s, r in itertools.product(SHIFTS, RELATIVES)],
        "shift + slope + relative": list(itertools.product(SHIFTS, SLOPES, RELATIVES)),
    }
    candidates = {"shipped (T 4.96, shift 7.2)": dict(SHIPPED)}
    shipped_refit = dict(SHIPPED, a=fit_scale(sets, SHIPPED))
    candidates["shipped boundary, scale refitted"] = shipped_refit
    for family, grid in families.items():
        best = choose(sets, family, grid, floor)
        params = {k: best[k] for k in ("shift", "slope", "relative")}
        params["a"] = fit_scale(sets, params)
        candidates[family] = params
    selection = [*PROTOCOL["selection"], *PROTOCOL["selection_multi"]]
    report = [*PROTOCOL["report_only"], *PROTOCOL["report_only_multi"]]
    table = {name: {s: set_metrics(*sets[s], params) for s in selection} for name, params in candidates.items()}
    # the final candidate: the family with the highest selection gold-returned rate (ties to the earlier, simpler one)
    gains = {name: float(np.mean([table[name][s]["gold_returned"] for s in PROTOCOL["selection"]])) for name in families}
    final = max(families, key=lambda name: (round(gains[name], 9), -list(families).index(name)))
    for name in ("shipped (T 4.96, shift 7.2)", final):  # report-only sets: scored once, for these two only
        table[name].update({s: set_metrics(*sets[s], candidates[name]) for s in report if s in sets})
    result = {"protocol": PROTOCOL, "floor_multi_a_micro_f1": floor, "final": final, "candidates": candidates,
              "metrics": table, "grid_points": {k: len(v) for k, v in families.items()}}
    out = ROOT / "benchmarks" / "results" / "v4_calibration.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"final: {final}")
    for name, rows in table.items():
        print(f"\n## {name}: {candidates[name]}")
        print("| set | gold returned | labels/text | none | micro-F1 | ECE | Brier |")
        print("|---|---|---|---|---|---|---|")
        for s, r in rows.items():
            print(f"| {s} | {r.get('gold_returned', float('nan')):.3f} | {r['labels_per_text']:.2f} | {r['none_returned']:.2f} | "
                  f"{r['micro_f1']:.3f} | {r['ece']:.3f} | {r['brier']:.3f} |")
