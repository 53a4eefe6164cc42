"""int8 variants against fp32 on the dev sets: argmax agreement and |Δscore| (issue 13 item 3, exploration).

Complements ``precision_report.py`` (which measures the shipped recipe and the variants it can build) with what it
cannot: SmoothQuant calibrated on a *training* corpus (``--calibration gcide_train``: 64 seeded texts with their own
labels; never a dev set) and per-token activation scales, a pure-torch ``Linear`` (symmetric int8 per token, per
output channel weights, ``torch._int_mm``) since ``torch.ops.quantized`` has only per-tensor dynamic activation
scales. Each variant is loaded fresh, smoothed/quantized, and scored in multi-label mode like ``precision_report``
(argmax of the logits, sigmoid scores). Reproduce (RESULTS.md §8, "int8 variants"):

    python benchmarks/int8_variants.py --limit 100 --variants int8 sq0.5 sq0.6 sq0.7 sq0.8 "int8 8bit-act" \\
        "sq0.5 8bit-act" "sq0.7 8bit-act" token "sq0.5 token"
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np
import torch

from uniclass import Classifier
from uniclass.backends.precision import apply_precision, int8_layer_names
from uniclass.backends.smoothquant import CALIBRATION_LABELS, CALIBRATION_TEXTS, calibrate, smooth_bert
from uniclass_lab.corpora import DEV_SETS
from uniclass_lab.eval_data import load_eval_data

# alpha (None: no smoothing), 8-bit activations, per-token activations
VARIANTS: dict[str, dict[str, Any]] = {
    "int8": {"alpha": None}, "int8 8bit-act": {"alpha": None, "full_range": True},
    **{f"sq{a}": {"alpha": a} for a in (0.5, 0.6, 0.7, 0.8)},
    **{f"sq{a} 8bit-act": {"alpha": a, "full_range": True} for a in (0.5, 0.6, 0.7)},
    "token": {"alpha": None, "token": True}, "sq0.5 token": {"alpha": 0.5, "token": True},
}


class PerTokenInt8Linear(torch.nn.Module):
    """Symmetric int8 with one activation scale per token (row) and one weight scale per output channel."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        self.weight_scale = (weight.abs().amax(1) / 127).clamp(min=1e-8)
        self.weight_q = (weight / self.weight_scale[:, None]).round().clamp(-127, 127).to(torch.int8).t()
        self.bias = linear.bias.detach() if linear.bias is not None else torch.zeros(weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        scale = rows.abs().amax(1, keepdim=True).clamp_(min=1e-8).div_(127)
        y = torch._int_mm(rows.div(scale).round_().to(torch.int8), self.weight_q).to(torch.float32).mul_(scale)
        return torch.addcmul(self.bias, y, self.weight_scale).reshape(*x.shape[:-1], -1)


def build(variant: dict[str, Any], maxima: dict[str, torch.Tensor], threads: int) -> Classifier:
    clf = Classifier.from_pretrained(None, device="cpu", num_threads=threads)
    model = clf.backend.model
    names = int8_layer_names(model)
    if variant["alpha"] is not None:
        names = smooth_bert(model, {n: maxima[n] for n in names}, variant["alpha"])
    if variant.get("token"):
        for name in names:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, PerTokenInt8Linear(model.get_submodule(name)))
    else:
        apply_precision(model, "int8", full_range=variant.get("full_range", False))  # no smooth: names kept
    clf.backend.precision = "int8"
    clf.reset_caches()
    return clf


def run(clf: Classifier, sets: dict[str, tuple[list[str], list[str]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name, (texts, labels) in sets.items():
        predictions = clf.predict(texts, labels, multi_label=True, batch_size=32, max_length=256)
        out[name] = (np.array([p.logits for p in predictions]), np.array([p.scores for p in predictions]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration", default="gcide_train", help="a training corpus, or 'builtin'")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    sets = {}
    for name in DEV_SETS:
        data = load_eval_data(name, args.limit, seed=0)
        sets[name] = ([e.text for e in data], list(data[0].all_labels))
    fp32 = Classifier.from_pretrained(None, device="cpu", num_threads=args.threads)
    reference = run(fp32, sets)
    if args.calibration == "builtin":
        texts, labels = list(CALIBRATION_TEXTS), list(CALIBRATION_LABELS)
    else:
        examples = load_eval_data(args.calibration, 64, seed=1)
        texts, labels = [e.text for e in examples], [list(e.all_labels) for e in examples]
    model = fp32.backend.model
    maxima = calibrate(model, lambda: fp32.scores(texts, labels, batch_size=32, max_length=256), int8_layer_names(model))
    for key in args.variants:
        start = time.time()
        out = run(build(VARIANTS[key], maxima, args.threads), sets)
        row: dict[str, Any] = {"variant": key}
        for name in sets:
            diff = np.abs(out[name][1] - reference[name][1])
            row[name] = {"argmax_agreement": float((out[name][0].argmax(1) == reference[name][0].argmax(1)).mean()),
                         "max_abs_score_diff": float(diff.max()), "mean_abs_score_diff": float(diff.mean())}
        row["seconds"] = round(time.time() - start, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
