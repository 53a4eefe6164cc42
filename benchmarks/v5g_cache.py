"""Protocol v5g (``benchmarks/protocol_v5g_cache.md``): a nearest-example cache term on top of ``fit``'s rule.

    python benchmarks/v5g_cache.py --out benchmarks/results/v5g_cache_selection.json            # selection sets
    python benchmarks/v5g_cache.py --report --out benchmarks/results/v5g_cache_report.json      # once, afterwards

Numpy on protocol v5's cache (``v5_few_shot.py collect``): the rule's weights come from the library's
``choose_signal_weights_shrunk``, its held-out support scores from ``heldout_scores`` and its test scores from
``raw_blend_scores``, exactly as ``v5_rules.py`` scores ``fit``'s default.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from v4_study import load_cache
from v5_few_shot import PROTOCOL, ROOT, log_variant
from v5_rules import RULES, WEIGHT, choose, macro_f1, prototype_cos, standardised

from uniclass.training.fit import heldout_scores, raw_blend_scores, stratified_folds

RULE = RULES["kfold4x5, 1 SE, guard; labels without examples gated per text"]
GAMMA = 5.5
ALPHAS = (0.0, 10.0, 20.0, 40.0)
FOLDS, REPEATS, SEED = 4, 5, 0


def cache_term(texts: np.ndarray, support: np.ndarray, support_labels: np.ndarray, n_labels: int) -> np.ndarray:
    """``[N, L]``: per label, the sum over its support texts of ``exp(-GAMMA (1 - cos))`` (unit vectors)."""
    affinity = np.exp(-GAMMA * (1.0 - np.asarray(texts, np.float64) @ np.asarray(support, np.float64).T))
    return affinity @ np.eye(n_labels)[support_labels]


def choose_alpha(data: dict[str, Any], weights: tuple[float, float, float], u_sup: np.ndarray, zs_sup: np.ndarray,
                 x_sup: np.ndarray, sgold: np.ndarray) -> tuple[float, dict[str, Any]]:
    n = len(data["labels"])
    k = int(max(2, min(FOLDS, np.bincount(sgold).max())))
    rng = np.random.default_rng(SEED)
    correct = {a: np.zeros(len(sgold)) for a in ALPHAS}
    for _ in range(REPEATS):
        folds = stratified_folds(sgold, k, rng)
        blend = heldout_scores(u_sup, zs_sup, x_sup, sgold, data["prompts"], weights, folds, prior_weight=WEIGHT)
        cache = np.zeros_like(blend)
        for fold in np.unique(folds):
            held, train = folds == fold, folds != fold
            cache[held] = cache_term(x_sup[held], x_sup[train], sgold[train], n)
        for a in ALPHAS:
            correct[a] += ((blend + a * cache).argmax(1) == sgold) / REPEATS
    evidence, best, best_gain = {}, 0.0, 0.0
    for a in ALPHAS:
        gains = correct[a] - correct[0.0]
        gain, se = float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
        evidence[str(a)] = {"accuracy": float(correct[a].mean()), "gain": gain, "se": se}
        if a and gain > 0 and gain > se and gain > best_gain:
            best, best_gain = a, gain
    return best, evidence


def evaluate_set(data: dict[str, Any]) -> dict[str, Any]:
    labels, gold, prompts = data["labels"], data["gold"].argmax(1), data["prompts"]
    x_sup, sgold, u_sup = data["x_sup"], data["sgold"], data["u_sup"]
    zs_test, zs_sup = standardised(data["x_test"], data), standardised(x_sup, data)
    weights, evidence = choose(RULE, u_sup, zs_sup, x_sup, sgold, prompts)
    rule = raw_blend_scores(data["u_test"], zs_test, data["x_test"], x_sup, sgold, prompts, weights,
                            zero_shot_offset=evidence["zero_shot_offset"], gate=True, prior_weight=WEIGHT)
    alpha, alpha_evidence = choose_alpha(data, weights, u_sup, zs_sup, x_sup, sgold)
    cache = cache_term(data["x_test"], x_sup, sgold, len(labels))
    return {"prototypes": macro_f1(prototype_cos(data, x_sup, sgold), gold, labels),
            "rule": macro_f1(rule, gold, labels), "rule + cache": macro_f1(rule + alpha * cache, gold, labels),
            "rule's weights": list(weights), "alpha": alpha, "alpha_evidence": alpha_evidence}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v5_cache")
    parser.add_argument("--report", action="store_true", help="the report-only sets (once, after the decision)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sets = PROTOCOL["report_only"] if args.report else PROTOCOL["selection"]
    rows = {name: evaluate_set(load_cache(args.cache, name)) for name in sets}
    columns = ["prototypes", "rule", "rule + cache"]
    mean = {c: float(np.mean([rows[s][c] for s in sets])) for c in columns}
    worst_vs_prototypes = min(rows[s]["rule + cache"] - rows[s]["prototypes"] for s in sets)
    worst_vs_rule = min(rows[s]["rule + cache"] - rows[s]["rule"] for s in sets)
    worth = (mean["rule + cache"] >= mean["rule"] + 0.005 and worst_vs_prototypes >= -0.005 and worst_vs_rule >= -0.01)
    summary = {"mean": mean, "worst_vs_prototypes": worst_vs_prototypes, "worst_vs_rule": worst_vs_rule,
               "worth_building": bool(worth), "report_only_scored": args.report}
    log_variant("few-shot v5g", f"rule + cache (gamma {GAMMA}, alpha from {ALPHAS} on the support)", summary)
    print("| set | " + " | ".join(columns) + " | alpha |\n|---|" + "---|" * (len(columns) + 1))
    for s in sets:
        print(f"| {s} | " + " | ".join(f"{rows[s][c]:.3f}" for c in columns) + f" | {rows[s]['alpha']:g} |")
    print("| mean | " + " | ".join(f"{mean[c]:.3f}" for c in columns) + " | |")
    print(f"worst vs prototypes {worst_vs_prototypes:+.3f}, worst vs rule {worst_vs_rule:+.3f}; "
          f"worth building: {worth}")
    if args.out:
        args.out.write_text(json.dumps({"sets": sets, "rows": rows, **summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
