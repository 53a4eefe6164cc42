"""Accuracy report for int8 dynamic quantization of an ONNX export (issue 5: int8 ships only with this).

Scores the development sets with the fp32 and the int8 graph of the same export: macro-F1 per set (single-label
argmax, the protocol of ``compare_dev.py``), the change, and max |Δscore| between the two (softmax over the
set's labels). Reproduce:

    uniclass export onnx --out runs/onnx-default --quantize          # the bundled model
    python benchmarks/int8_report.py --export runs/onnx-default --limit 300
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from uniclass import Classifier
from uniclass.evaluation.metrics import single_label_report
from uniclass_lab.corpora import DEV_SETS
from uniclass_lab.eval_data import load_eval_data


def score_set(clf: Classifier, name: str, limit: int, max_length: int) -> tuple[float, np.ndarray]:
    data = load_eval_data(name, limit, seed=0)
    labels = list(data[0].all_labels)
    predictions = clf.predict([e.text for e in data], labels, multi_label=False, max_length=max_length)
    scores = np.array([p.scores for p in predictions])
    predicted = [labels[i] for i in scores.argmax(1)]
    return single_label_report([e.true_labels[0] for e in data], predicted, labels)["macro_f1"], scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="folder written by `uniclass export onnx --quantize`")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "int8_report.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*did not fit.*")
    fp32 = Classifier.from_pretrained(args.export, backend="onnx", quantized=False, num_threads=args.threads)
    int8 = Classifier.from_pretrained(args.export, backend="onnx", quantized=True, num_threads=args.threads)
    rows = []
    for name in DEV_SETS:
        f1_fp32, s_fp32 = score_set(fp32, name, args.limit, args.max_length)
        f1_int8, s_int8 = score_set(int8, name, args.limit, args.max_length)
        rows.append({"set": name, "macro_f1_fp32": f1_fp32, "macro_f1_int8": f1_int8, "delta": f1_int8 - f1_fp32,
                     "max_abs_score_diff": float(np.abs(s_fp32 - s_int8).max()),
                     "argmax_agreement": float((s_fp32.argmax(1) == s_int8.argmax(1)).mean())})
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    setup = {"export": str(args.export), "limit": args.limit, "max_length": args.max_length, "threads": args.threads,
             "command": " ".join(["python", *sys.argv])}
    args.out.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")
    print("| set | macro-F1 fp32 | macro-F1 int8 | change | max abs score diff | same argmax |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['macro_f1_fp32']:.4f} | {r['macro_f1_int8']:.4f} | {r['delta']:+.4f} | "
              f"{r['max_abs_score_diff']:.3f} | {r['argmax_agreement']:.3f} |")


if __name__ == "__main__":
    main()
