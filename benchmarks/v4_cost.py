"""Throughput of the default model on the bench mix, paired and interleaved: v4 calibration vs v3's, fp32 and bf16.

    python benchmarks/v4_cost.py --texts 64 --rounds 3 --threads 2 --out benchmarks/results/v4_cost.json

The texts are ``uniclass.bench.workloads.dev_mix`` (half Rotten Tomatoes snippets, half BBC articles, shuffled),
scored multi-label (so the v4 calibration's extra terms run) against BBC's five topics. Every configuration runs
once per round, in a rotating order, and the best round of each is kept (the machine is shared); warm label caches.
Configurations: the shipped folder as it is now (``default``), the same with v3's calibration (T 4.96, shift 7.2),
the uni-encoder alone (``prior=False``: the cost of the prior's MiniLM pass), and ``precision="bf16"`` (the
uni-encoder and the prior in bf16; only fast on CPUs with avx512_bf16 / AMX, which the flags line records).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from uniclass import Classifier
from uniclass.calibration import Calibration
from uniclass_lab.bench.workloads import dev_mix  # research code: PYTHONPATH=lab or pip install -e lab/


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f in {"avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx2"})


def calibration_cost(labels: int = 5, number: int = 20000) -> None:
    """What v4's multi-label terms add per text: ``Calibration.apply`` on one text's logits, best of 3."""
    import timeit

    import numpy as np

    from uniclass.loading import default_model_dir

    logits = np.random.default_rng(0).normal(size=labels) * 10
    for name, calibration in (("v3", Calibration(temperature=4.96, shift=7.2)),
                              ("v4 (shipped)", Calibration.load(default_model_dir()))):
        seconds = min(timeit.repeat(lambda c=calibration: c.apply(logits, multi_label=True), number=number, repeat=3))
        print(f"{name}: {seconds / number * 1e6:.1f} us per text ({labels} labels)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--calibration-only", action="store_true",
                        help="time Calibration.apply alone (v3 vs the shipped file), microseconds per text")
    args = parser.parse_args()
    if args.calibration_only:
        calibration_cost()
        return
    torch.set_num_threads(args.threads)
    texts = [item["text"] for item in dev_mix(args.texts)]
    labels = ["business", "entertainment", "politics", "sport", "tech"]
    v3 = Classifier.from_pretrained(device="cpu")
    v3.calibration = Calibration(temperature=4.96, shift=7.2)
    models = {"default fp32": Classifier.from_pretrained(device="cpu"), "v3 calibration fp32": v3,
              "uni-encoder alone fp32": Classifier.from_pretrained(device="cpu", prior=False)}
    if {"avx512_bf16", "amx_bf16"} & set(cpu_flags()):
        models["default bf16"] = Classifier.from_pretrained(device="cpu", precision="bf16")
    else:  # without native bf16 the fused oneDNN bf16 layers fail on this torch (could not create a primitive)
        print("no avx512_bf16/amx_bf16: bf16 not measured", flush=True)
    for clf in models.values():
        clf.classify(texts[:4], labels, batch_size=args.batch_size)  # warm-up, label caches
    seconds: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            models[name].classify(texts, labels, batch_size=args.batch_size)
            seconds[name].append(time.perf_counter() - start)
            print(f"round {round_}: {name}: {len(texts) / seconds[name][-1]:.2f} texts/s", flush=True)
    result = {"texts": len(texts), "rounds": args.rounds, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
              "cpu_flags": cpu_flags(), "texts_per_s_best": {n: len(texts) / min(s) for n, s in seconds.items()},
              "seconds": seconds}
    print(json.dumps(result["texts_per_s_best"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
