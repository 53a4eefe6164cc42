"""Learned calibrator vs temperature scaling on the bundled default model: ECE, Brier score and NLL per set.

Protocol. Per set, ``--limit`` texts (the seeded subset of ``uniclass.evaluation.runner.load_eval_data``, seed 0)
are split by a seeded permutation (seed 0) into a **calibration split** (the first half) and a **test split**
(the second half). Everything is fitted on the calibration split and reported on the test split:

* ``before``: the model's scores as they are (the default model: uni-encoder logits plus its embedding prior);
* ``temperature``: one temperature fitted on the calibration split (``uniclass.calibration.fit_temperature``,
  what ``Classifier.calibrate()`` fits);
* ``learned``: the learned calibrator (``modeling.calibrator``) fitted as ``Classifier.calibrate(method="learned")``
  fits it (``training.calibration``: global fit, then the MLP; 20% of the calibration split held out for early
  stopping), once without and once with the bias (``learned_bias``).

Each set is scored under two protocols on the same model outputs: ``single_label`` (softmax over the text's
labels, the dev sets' task; ECE and Brier over every (text, label) entry, as ``calibration_report``) and
``multi_label`` (a sigmoid per (text, label) pair, as ``classify`` returns by default and gcide_multi needs).
The model is run once per set (texts truncated to ``--max-length`` tokens) and its per-text vectors and logits
are cached under ``--cache`` so a rerun only refits.

Reproduce (about 20 minutes on 2 shared CPU cores; a rerun with the cache only refits, about a minute)::

    python benchmarks/learned_calibration.py --out benchmarks/results/learned_calibration.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uniclass import Classifier
from uniclass.calibration import fit_temperature
from uniclass.evaluation.metrics import probability_metrics
from uniclass.evaluation.runner import load_eval_data
from uniclass.modeling.calibrator import LearnedCalibrator
from uniclass.training.calibration import (
    Window,
    collect_windows,
    fit_global_scaling,
    make_windows,
    split_items,
    train_calibrator,
)

SETS = ("bbc_news", "rotten_tomatoes", "foldoc", "gcide_multi")
PROTOCOLS = ("single_label", "multi_label")
SEED = 0


def collect(clf: Classifier, name: str, limit: int, cache: Path) -> dict[str, Any]:
    """The set's texts, labels, truth and one ``Window`` per text (model run once, then cached)."""
    path = cache / f"{name}-{limit}-{clf.max_length}.pt"
    if path.is_file():
        return torch.load(path, weights_only=False)
    examples = load_eval_data(name, limit=limit, seed=SEED)
    texts = [e.text for e in examples]
    labels = [list(e.all_labels) for e in examples]
    truth = [list(e.true_labels) for e in examples]
    started = time.perf_counter()
    _, segments, logits = collect_windows(clf, texts, labels, True, 16)
    if len(segments) != len(texts):
        raise RuntimeError(f"{name}: expected one window per text, got {len(segments)} for {len(texts)} texts")
    windows = make_windows(segments, logits, truth, single_label=False)
    data = {"labels": labels, "truth": truth, "windows": windows, "model_seconds": time.perf_counter() - started}
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return data


def padded(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    out, mask = np.zeros((len(rows), width)), np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        out[i, : len(r)], mask[i, : len(r)] = r, True
    return out, mask


def calibrated_logits(calibrator: LearnedCalibrator, windows: list[Window]) -> list[np.ndarray]:
    from uniclass.training.calibration import collate

    batch = collate(windows)
    with torch.no_grad():
        beta, bias = calibrator(batch["text"], batch["labels"], batch["logits"], batch["mask"])
    values = (beta * batch["logits"] + bias).numpy()
    return [values[i, : len(w.logits)] for i, w in enumerate(windows)]


def fit_learned(windows: list[Window], use_bias: bool, dim: int, hidden_size: int) -> tuple[LearnedCalibrator, float]:
    """As ``fit_learned_calibrator`` does: 20% of the windows held out for early stopping, default options."""
    fit_items, held_items = split_items(len(windows), 0.2, SEED)
    fit = [w for k, w in enumerate(windows) if k in fit_items]
    held = [w for k, w in enumerate(windows) if k in held_items]
    beta0, bias0 = fit_global_scaling(fit, fit_bias=use_bias)
    torch.manual_seed(SEED)
    calibrator = LearnedCalibrator(dim, hidden_size=hidden_size, use_bias=use_bias)
    return train_calibrator(calibrator, fit, held, beta0, bias0, seed=SEED), beta0


def evaluate_set(data: dict[str, Any], protocol: str, hidden_size: int) -> dict[str, Any]:
    single = protocol == "single_label"
    windows = [Window(w.item, w.text, w.labels, w.logits, w.targets, single) for w in data["windows"]]
    order = np.random.default_rng(SEED).permutation(len(windows))
    half = len(windows) // 2
    calib = [windows[i] for i in sorted(order[:half])]
    test = [windows[i] for i in sorted(order[half:])]
    if single:  # single-label needs exactly one true label per text
        calib = [w for w in calib if w.targets.sum() == 1]
        test = [w for w in test if w.targets.sum() == 1]
    if not calib or not test:
        return {"skipped": "no single-label texts"}

    calib_logits, calib_mask = padded([w.logits.numpy() for w in calib])
    calib_targets, _ = padded([w.targets.numpy() for w in calib])
    temperature = fit_temperature(calib_logits, calib_targets, calib_mask, multi_label=not single)
    test_logits, test_mask = padded([w.logits.numpy() for w in test])
    test_targets, _ = padded([w.targets.numpy() for w in test])
    variants = {"before": test_logits, "temperature": test_logits / temperature}
    fitted: dict[str, Any] = {"temperature": temperature}
    dim = windows[0].text.shape[-1]
    for name, use_bias in (("learned", False), ("learned_bias", True)):
        calibrator, beta0 = fit_learned(calib, use_bias, dim, hidden_size)
        variants[name], _ = padded(calibrated_logits(calibrator, test))
        fitted[f"{name}_global_beta"] = beta0
    metrics = {
        name: probability_metrics(logits, test_targets, test_mask, multi_label=not single)
        for name, logits in variants.items()
    }
    return {"calibration_texts": len(calib), "test_texts": len(test), **fitted, "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--limit", type=int, default=300, help="texts per set (half calibration, half test)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=256, help="the calibrator's MLP width (official default)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "uniclass" / "learned_calibration")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/learned_calibration.json"))
    args = parser.parse_args()
    torch.manual_seed(SEED)
    clf = Classifier.from_pretrained(max_length=args.max_length)
    results: dict[str, Any] = {
        "model": "bundled default (uniclass-minilm, with its embedding prior)",
        "protocol": "per set: --limit texts (load_eval_data seed 0), seeded half/half split into calibration and "
                    "test; temperature and learned calibrators fitted on calibration, metrics on test",
        "limit": args.limit, "max_length": args.max_length, "hidden_size": args.hidden_size,
        "cpu": platform.processor() or platform.machine(),
        "sets": {},
    }
    for name in args.sets.split(","):
        data = collect(clf, name, args.limit, args.cache)
        results["sets"][name] = {"model_seconds": round(data["model_seconds"], 1)}
        for protocol in PROTOCOLS:
            results["sets"][name][protocol] = evaluate_set(data, protocol, args.hidden_size)
            print(name, protocol, json.dumps(results["sets"][name][protocol].get("metrics", {}), indent=None))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
