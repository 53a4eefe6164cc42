"""Throughput of the default model on the bench mix, paired and interleaved: v4 calibration vs v3's, fp32 and bf16.

    python benchmarks/v4_cost.py --texts 64 --rounds 3 --threads 2 --out benchmarks/results/v4_cost.json

The texts are ``uniclass.bench.workloads.dev_mix`` (half Rotten Tomatoes snippets, half BBC articles, shuffled),
scored multi-label (so the v4 calibration's extra terms run) against BBC's five topics. Every configuration runs
once per round, in a rotating order, and the best round of each is kept (the machine is shared); warm label caches.
Configurations: the shipped folder as it is now (``default``), the same with v3's calibration (T 4.96, shift 7.2),
the uni-encoder alone (``prior=False``: the cost of the prior's MiniLM pass), and ``precision="bf16"`` (the
uni-encoder and the prior in bf16; only fast on CPUs with avx512_bf16 / AMX, which the flags line records).

``--multilingual`` times ``uniclass-multilingual`` against ``uniclass-minilm`` instead, fp32 and bf16, on the same
texts and labels, with a stated token window (``--max-length``, default 128)::

    python benchmarks/v4_cost.py --multilingual --texts 64 --rounds 5 --threads 2 --batch-size 32 --max-length 128 \
        --out benchmarks/results/multilingual_cost.json

There bf16 runs on every CPU: without avx512_bf16/AMX, torch emulates the bf16 matmuls (the fused oneDNN layers fall
back to plain ops), and the configuration is named "bf16 (emulated)". Every round runs the four configurations back
to back in a rotating order; besides the best round of each, the per-round ratio multilingual / minilm (paired: the
same round, the same machine load) is reported as a median.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from uniclass_lab.bench.workloads import dev_mix  # research code: PYTHONPATH=lab or pip install -e lab/

from uniclass import Classifier
from uniclass.calibration import Calibration


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


def native_bf16() -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


def cpu_model() -> str:
    """``lscpu``'s "Model name" (what the results record), else the platform's processor string."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def multilingual_models() -> dict[str, Classifier]:
    """The four configurations of ``--multilingual``: both models, fp32 and bf16 ("emulated" without bf16 units)."""
    bf16 = "bf16" if native_bf16() else "bf16 (emulated)"
    return {f"{name} {precision}": Classifier.from_pretrained(name, device="cpu", precision=precision.split()[0])
            for precision in ("fp32", bf16) for name in ("uniclass-minilm", "uniclass-multilingual")}


def median_ratio(times: list[float], reference: list[float]) -> float:
    """Median over rounds of (seconds / the reference's seconds in the same round): <1 is faster."""
    import statistics

    return round(statistics.median(t / r for t, r in zip(times, reference, strict=True)), 3)


def paired_ratios(seconds: dict[str, list[float]]) -> dict[str, float]:
    """``median_ratio`` of multilingual over minilm per precision: >1 means multilingual is slower."""
    return {name.removeprefix("uniclass-multilingual "):
            median_ratio(times, seconds["uniclass-minilm " + name.removeprefix("uniclass-multilingual ")])
            for name, times in seconds.items() if name.startswith("uniclass-multilingual ")}


def ratios_to(seconds: dict[str, list[float]], reference: str) -> dict[str, float]:
    """``median_ratio`` of every configuration over ``reference``."""
    return {name: median_ratio(times, seconds[reference]) for name, times in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--multilingual", action="store_true",
                        help="uniclass-multilingual vs uniclass-minilm, fp32 and bf16 (emulated without bf16 units)")
    parser.add_argument("--max-length", type=int, default=None, help="token window of every classify call")
    parser.add_argument("--calibration-only", action="store_true",
                        help="time Calibration.apply alone (v3 vs the shipped file), microseconds per text")
    args = parser.parse_args()
    if args.calibration_only:
        calibration_cost()
        return
    torch.set_num_threads(args.threads)
    texts = [item["text"] for item in dev_mix(args.texts)]
    labels = ["business", "entertainment", "politics", "sport", "tech"]
    if args.multilingual:
        models = multilingual_models()
    else:
        v3 = Classifier.from_pretrained(device="cpu")
        v3.calibration = Calibration(temperature=4.96, shift=7.2)
        models = {"default fp32": Classifier.from_pretrained(device="cpu"), "v3 calibration fp32": v3,
                  "uni-encoder alone fp32": Classifier.from_pretrained(device="cpu", prior=False)}
        if native_bf16():
            models["default bf16"] = Classifier.from_pretrained(device="cpu", precision="bf16")
        else:  # (the emulated bf16 of this mode is measured with --multilingual)
            print("no avx512_bf16/amx_bf16: bf16 not measured", flush=True)
    window = {"max_length": args.max_length} if args.max_length else {}
    for clf in models.values():
        clf.classify(texts[:4], labels, batch_size=args.batch_size, **window)  # warm-up, label caches
    seconds: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            models[name].classify(texts, labels, batch_size=args.batch_size, **window)
            seconds[name].append(time.perf_counter() - start)
            print(f"round {round_}: {name}: {len(texts) / seconds[name][-1]:.2f} texts/s", flush=True)
    result = {"texts": len(texts), "rounds": args.rounds, "threads": args.threads, "batch_size": args.batch_size,
              "max_length": args.max_length or "model default", "labels": labels, "cpu": cpu_model(),
              "cpu_flags": cpu_flags(), "native_bf16": native_bf16(),
              "texts_per_s_best": {n: len(texts) / min(s) for n, s in seconds.items()},
              "ms_per_text_best": {n: round(1000 * min(s) / len(texts), 1) for n, s in seconds.items()},
              "seconds": seconds}
    if args.multilingual:
        result["multilingual_over_minilm_time_ratio_median"] = paired_ratios(seconds)
        ratios = result["multilingual_over_minilm_time_ratio_median"]
        print("time ratio multilingual / minilm (median of paired rounds):", ratios)
    else:
        result["time_ratio_to_default_median"] = ratios_to(seconds, names[0])
        print("time ratio to the default (median of paired rounds):", result["time_ratio_to_default_median"])
    print(json.dumps(result["texts_per_s_best"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
