"""Which batch shape each precision wants: texts/s over batch sizes and token budgets, fp32 and bf16 (issue 13).

Why: in bf16 the matmuls run ~4.5x faster than in fp32 but attention (quadratic in the padded length) and the
element-wise work do not, so the batch shape that is best in fp32 need not be best in bf16. The classifier sorts
texts by length and cuts batches at ``batch_size`` rows or ``max_batch_tokens`` padded tokens
(``uniclass.batching.plan_batches``).

Every (precision, batch_size, max_batch_tokens) cell is timed in ``--rounds`` interleaved rounds on the same texts
(the dev mix of ``python -m uniclass_lab bench official``: Rotten Tomatoes snippets and BBC articles, 8 labels), so load from other
jobs hits all cells alike; the median texts/s per cell and its ratio to the cell ``batch 32, no token budget`` of the
same precision and round are reported. The GLiClass network alone (``prior=False``). Reproduce::

    python benchmarks/batching_sweep.py --texts 96 --rounds 3 --out benchmarks/results/batching_sweep.json
    python benchmarks/batching_sweep.py --precisions bf16 --batch-sizes 16,32,64,128 --budgets none,4096,8192,16384 \
        --texts 128 --rounds 3 --out benchmarks/results/batching_sweep_bf16.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from uniclass import Classifier
from uniclass_lab.bench.common import run_header
from uniclass_lab.bench.workloads import LABELS_8, dev_mix

BATCH_SIZES = (16, 32, 64)
BASELINE = (32, None)


def cell_name(batch_size: int, budget: int | None) -> str:
    return f"batch {batch_size}, {'no token budget' if budget is None else f'{budget} tokens'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)), help="comma-separated row caps")
    parser.add_argument("--budgets", default="none,8192",
                        help="comma-separated token budgets ('none': no budget; budgets below 64 tokens a row are skipped)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "batching_sweep.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [item["text"] for item in dev_mix(args.texts, 0)]
    labels = list(LABELS_8)
    models = {p: Classifier.from_pretrained(device="cpu", precision=p, prior=False, max_length=args.max_length)
              for p in args.precisions.split(",")}
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    budgets = [None if t.strip().lower() == "none" else int(t) for t in args.budgets.split(",")]
    cells = [(b, t) for b in batch_sizes for t in budgets if t is None or t >= b * 64]
    if BASELINE not in cells:
        cells.insert(0, BASELINE)  # every ratio is to this cell of the same round
    for clf in models.values():  # warm-up
        clf.scores(texts[:32], labels)
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        result: dict[str, dict[str, float]] = {}
        for precision, clf in models.items():
            result[precision] = {}
            for batch_size, budget in cells:
                start = time.perf_counter()
                clf.scores(texts, labels, batch_size=batch_size, max_batch_tokens=budget)
                result[precision][cell_name(batch_size, budget)] = len(texts) / (time.perf_counter() - start)
        rounds.append(result)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    summary = {}
    for precision in models:
        base = cell_name(*BASELINE)
        summary[precision] = {
            cell_name(b, t): {
                "median_texts_per_s": statistics.median(rd[precision][cell_name(b, t)] for rd in rounds),
                "median_ratio_to_batch32": statistics.median(rd[precision][cell_name(b, t)] / rd[precision][base]
                                                             for rd in rounds),
            } for b, t in cells}
    payload = {"header": run_header(args.threads), "texts": len(texts), "labels": labels, "max_length": args.max_length,
               "command": " ".join(["python", *sys.argv]), "rounds": rounds, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print("| precision | cell | texts/s (median) | × batch 32 |\n|---|---|---|---|")
    for precision, cells_summary in summary.items():
        for name, row in cells_summary.items():
            print(f"| {precision} | {name} | {row['median_texts_per_s']:.1f} | {row['median_ratio_to_batch32']:.2f} |")


if __name__ == "__main__":
    main()
