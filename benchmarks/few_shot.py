"""Few-shot: zero-shot vs fine-tuning on 8 examples per label, on each development set, several seeds.

For each set and seed: 8 labelled texts per label are drawn for training, and a disjoint seeded test subset
is scored before and after ``Classifier.fit`` (LoRA, merged). Reproduce:

    python benchmarks/few_shot.py --model src/uniclass/models/uniclass-minilm --seeds 0 1 2 --test 300

Writes ``benchmarks/results/few_shot.json`` and prints a markdown table (macro-F1, single-label protocol).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from uniclass_lab.bench.common import repo_relative_paths
from uniclass.evaluation.runner import few_shot_split as split  # the same seeded split in every few-shot study
from uniclass_lab.corpora import DEV_SETS




def main() -> None:
    from uniclass import Classifier
    from uniclass.evaluation.runner import evaluate
    from uniclass_lab.eval_data import load_eval_data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "few_shot.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name in DEV_SETS:
        examples = load_eval_data(name)
        zero, few = [], []
        for seed in args.seeds:
            train, test = split(examples, args.shots, args.test, seed)
            clf = Classifier.from_pretrained(args.model, device="cpu", max_length=256)
            zero.append(evaluate(clf, test)["macro_f1"])
            labels = list(train[0].all_labels)
            clf.fit([e.text for e in train], [e.true_labels[0] for e in train], all_labels=labels, multi_label=False,
                    epochs=args.epochs, learning_rate=args.lr, batch_size=8, seed=seed)
            few.append(evaluate(clf, test)["macro_f1"])
            print(json.dumps({"data": name, "seed": seed, "zero_shot": zero[-1], "few_shot": few[-1], "train": len(train), "test": len(test)}), flush=True)
        rows[name] = {"zero_shot": zero, "few_shot": few}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    setup = repo_relative_paths(vars(args) | {"out": str(args.out), "command": " ".join(sys.argv)})
    args.out.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2, default=str))
    print("| set | zero-shot macro-F1 | 8-shot fine-tuned macro-F1 | gain |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        z, f = np.mean(row["zero_shot"]), np.mean(row["few_shot"])
        print(f"| {name} | {z:.4f} ± {np.std(row['zero_shot']):.4f} | {f:.4f} ± {np.std(row['few_shot']):.4f} | {f - z:+.4f} |")
    z = np.mean([np.mean(r["zero_shot"]) for r in rows.values()])
    f = np.mean([np.mean(r["few_shot"]) for r in rows.values()])
    print(f"| mean | {z:.4f} | {f:.4f} | {f - z:+.4f} |")


if __name__ == "__main__":
    main()
