"""Accuracy (and speed) of each fast precision against fp32, on the development sets (issue 13).

For every mode (``Classifier.from_pretrained(model, precision=...)``) and dev set, the same texts are scored
once in multi-label mode (sigmoid scores at the model's default threshold) and the logits give the
single-label decision (argmax, the protocol of ``compare_dev.py``):

* macro-F1 (single-label argmax) of fp32 and of the mode, and the change;
* max and mean |Δscore| (sigmoid scores, the default ``classify`` mode) against fp32;
* argmax agreement with fp32;
* multi-label decision agreement at the default threshold: per (text, label) pair, and per text (same set).

Throughput: every mode is loaded in one process and timed in ``--rounds`` interleaved rounds (fp32, bf16, int8,
... in turn, each on the same ``--speed-texts`` texts per set), so load from other jobs on a shared machine hits
all modes alike; the median texts/s and the median per-round speed-up over fp32 are reported (``--threads``,
``--batch-size``, ``--max-length`` stated in the JSON). A relative measurement, not ``python -m uniclass_lab bench official``.
Reproduce:

    python benchmarks/precision_report.py --limit 300                # the bundled default model
    python benchmarks/precision_report.py --model runs/other --limit 300 --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uniclass import Classifier
from uniclass.backends.precision import apply_precision, cpu_flags, int8_layer_names
from uniclass.backends.smoothquant import CALIBRATION_LABELS, CALIBRATION_TEXTS, calibrate
from uniclass_lab.corpora import DEV_SETS
from uniclass.loading import default_model_dir
from uniclass.evaluation.metrics import single_label_report
from uniclass_lab.eval_data import load_eval_data
from uniclass.postprocessing import normalize_thresholds, resolve_threshold

# Modes: the public precisions, plus recipe variants measured to justify the shipped ones.
MODES: dict[str, dict[str, Any]] = {
    "bf16": {"precision": "bf16"},
    "int8": {"precision": "int8"},
    "bf16 (unfused)": {"variant": ("bf16", {"fuse": False})},
    "bf16 (whole model incl. head)": {"variant": ("bf16", {"keep_head_fp32": False})},
    "int8 (down-projections too)": {"variant": ("int8", {"keep_down_projections": False})},
    # int8 variants (issue 13 item 3): the previous recipe, then its two changes one at a time, then alphas
    "int8 plain, 7-bit act. (previous)": {"variant": ("int8", {"full_range": False})},
    "int8 plain, 8-bit act.": {"variant": ("int8", {"full_range": True})},
    "int8 SmoothQuant a=0.6, 7-bit act.": {"smooth": {"alpha": 0.6, "full_range": False}},
    "int8 SmoothQuant a=0.5, 8-bit act.": {"smooth": {"alpha": 0.5, "full_range": True}},
    "int8 SmoothQuant a=0.6 + down-proj., 8-bit act.": {"smooth": {"alpha": 0.6, "full_range": True,
                                                                  "keep_down_projections": False}},
}


def load(model: str | None, mode: dict[str, Any], args: argparse.Namespace) -> Classifier:
    """A classifier in ``mode``: a public precision, or a recipe variant applied to an fp32 load."""
    if "smooth" in mode:  # the int8 recipe's calibration (built-in texts, this pipeline) with other options
        clf = Classifier.from_pretrained(model, device="cpu", num_threads=args.threads)
        options = dict(mode["smooth"])
        keep_down = options.pop("keep_down_projections", True)
        run = lambda: clf.scores(list(CALIBRATION_TEXTS), list(CALIBRATION_LABELS))  # noqa: E731
        maxima = calibrate(clf.backend.model, run, int8_layer_names(clf.backend.model, keep_down_projections=keep_down))
        apply_precision(clf.backend.model, "int8", smooth=maxima, keep_down_projections=keep_down, **options)
        clf.backend.precision = "int8"
        clf.reset_caches()
        return clf
    if "variant" not in mode:
        return Classifier.from_pretrained(model, device="cpu", num_threads=args.threads, precision=mode.get("precision"))
    precision, options = mode["variant"]
    clf = Classifier.from_pretrained(model, device="cpu", num_threads=args.threads)
    apply_precision(clf.backend.model, precision, **options)
    clf.backend.precision = precision
    if precision == "bf16" and not options.get("keep_head_fp32", True):
        clf.backend.precision = "fp32"  # float inputs in the model's (bf16) dtype: the whole model is bf16
    return clf


def score(clf: Classifier, data: list[Any], labels: list[str], args: argparse.Namespace) -> dict[str, np.ndarray]:
    predictions = clf.predict([e.text for e in data], labels, multi_label=True, batch_size=args.batch_size,
                              max_length=args.max_length)
    scores = np.array([p.scores for p in predictions])
    thresholds = normalize_thresholds(resolve_threshold(None, clf.calibration), len(data))
    limits = np.array([[t[label] if isinstance(t, dict) else t for label in labels] for t in thresholds])
    return {"scores": scores, "argmax": np.array([p.logits for p in predictions]).argmax(1), "decisions": scores >= limits}


def time_pass(clf: Classifier, sets: dict[str, tuple[list[Any], list[str]]], args: argparse.Namespace) -> float:
    """Texts per second of one pass over the first ``args.speed_texts`` texts of every set."""
    total = 0
    start = time.perf_counter()
    for data, labels in sets.values():
        texts = [e.text for e in data[: args.speed_texts]]
        clf.scores(texts, labels, batch_size=args.batch_size, max_length=args.max_length)
        total += len(texts)
    return total / (time.perf_counter() - start)


def interleaved_speed(models: dict[str, Classifier], sets: dict[str, tuple[list[Any], list[str]]],
                      args: argparse.Namespace) -> dict[str, Any]:
    """``args.rounds`` rounds, each timing every mode once in turn (after one warm-up pass each)."""
    for clf in models.values():
        time_pass(clf, sets, args)
    rounds = [{mode: time_pass(clf, sets, args) for mode, clf in models.items()} for _ in range(args.rounds)]
    return {
        "rounds": rounds,
        "median_texts_per_s": {m: float(np.median([r[m] for r in rounds])) for m in models},
        "median_speedup_vs_fp32": {m: float(np.median([r[m] / r["fp32"] for r in rounds])) for m in models},
    }


def compare(name: str, ref: dict[str, np.ndarray], out: dict[str, np.ndarray], gold: list[str], labels: list[str]) -> dict[str, Any]:
    f1 = [single_label_report(gold, [labels[i] for i in r["argmax"]], labels)["macro_f1"] for r in (ref, out)]
    diff = np.abs(out["scores"] - ref["scores"])
    return {
        "set": name, "macro_f1_fp32": f1[0], "macro_f1": f1[1], "macro_f1_change": f1[1] - f1[0],
        "max_abs_score_diff": float(diff.max()), "mean_abs_score_diff": float(diff.mean()),
        "argmax_agreement": float((out["argmax"] == ref["argmax"]).mean()),
        "decision_agreement_pairs": float((out["decisions"] == ref["decisions"]).mean()),
        "decision_agreement_texts": float((out["decisions"] == ref["decisions"]).all(1).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    parser.add_argument("--limit", type=int, default=300, help="texts per dev set (seeded subset)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (0: no timing)")
    parser.add_argument("--speed-texts", type=int, default=64, help="texts per set in each timed pass")
    parser.add_argument("--modes", nargs="+", default=list(MODES), help=f"modes to compare (default: {list(MODES)})")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "precision_report.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*did not fit.*")
    torch.set_num_threads(args.threads)
    sets = {}
    for name in DEV_SETS:
        data = load_eval_data(name, args.limit, seed=0)
        sets[name] = (data, list(data[0].all_labels))
    fp32 = Classifier.from_pretrained(args.model, device="cpu", num_threads=args.threads)
    ref = {name: score(fp32, d, labels, args) for name, (d, labels) in sets.items()}
    models = {"fp32": fp32}
    rows = []
    for mode in args.modes:
        clf = models[mode] = load(args.model, MODES[mode], args)
        for name, (data, labels) in sets.items():
            row = compare(name, ref[name], score(clf, data, labels, args), [e.true_labels[0] for e in data], labels)
            rows.append({"mode": mode, **row})
            print(json.dumps(rows[-1]), flush=True)
    speed = interleaved_speed(models, sets, args) if args.rounds else {}
    setup = {
        "model": args.model or "bundled default",
        "weights_sha256": hashlib.sha256((Path(args.model or default_model_dir()) / "model.safetensors").read_bytes()).hexdigest(), "limit": args.limit, "max_length": args.max_length,
        "batch_size": args.batch_size, "threads": args.threads, "rounds": args.rounds, "speed_texts_per_set": args.speed_texts, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": sorted(f for f in cpu_flags() if f in ("avx512_bf16", "amx_bf16", "avx512_vnni", "amx_int8", "avx512_fp16")),
        "texts": {name: len(d) for name, (d, _) in sets.items()},
        "command": " ".join(["python", *sys.argv]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"setup": setup, "speed": speed, "rows": rows}, indent=2) + "\n")
    print(render(rows, speed))


def render(rows: list[dict[str, Any]], speed: dict[str, Any]) -> str:
    lines = ["| mode | set | macro-F1 fp32 | macro-F1 | change | max abs Δscore | mean abs Δscore | same argmax "
             "| same decisions (pairs) | same label set (texts) |", "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['set']} | {r['macro_f1_fp32']:.4f} | {r['macro_f1']:.4f} | "
                     f"{r['macro_f1_change']:+.4f} | {r['max_abs_score_diff']:.4f} | {r['mean_abs_score_diff']:.5f} | "
                     f"{r['argmax_agreement']:.4f} | {r['decision_agreement_pairs']:.4f} | {r['decision_agreement_texts']:.4f} |")
    if speed:
        lines += ["", "| mode | texts/s (median) | × fp32 (median of rounds) |", "|---|---|---|"]
        lines += [f"| {m} | {v:.1f} | {speed['median_speedup_vs_fp32'][m]:.2f} |"
                  for m, v in speed["median_texts_per_s"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
