"""Efficiency: estimated FLOPs per text, achieved GFLOP/s, and the machine's measured fp32 and bf16 matmul peaks.

FLOPs are counted analytically from the batches the classifier really ran (shapes read by forward hooks, so
padding is counted as the hardware pays for it). Per encoder layer and sequence of ``T`` padded tokens,
hidden size ``d`` and feed-forward width ``f``::

    2*T*(4*d^2 + 2*d*f)     the Q, K, V, output and the two feed-forward projections
    + 4*T^2*d               attention scores (Q K^T) and the weighted sum of values

plus the GLiClass head (projectors and scorer, per text and per label slot). Only matrix products are
counted (a multiply-add is 2 FLOPs); embeddings, layer norms, softmax and activations are left out, so the
achieved rate is a slight underestimate. The peak is ``torch.matmul`` on large square fp32 matrices with the
same thread count, measured at the start and at the end of the same run (the larger is used), so the
fraction of peak says how far the whole pipeline (tokenisation included) is from what the cores can do.
The bf16 peak (the same matmuls in bfloat16) is measured in the same run too, so ``--precision bf16`` reports
its fraction of the ceiling it can actually reach; ``fraction_of_peak`` is against the peak of the run's
precision (bf16 for bf16, fp32 otherwise) and ``fraction_of_bf16_peak`` is always reported.

``--device cuda`` runs the model and the peak matmuls on the GPU: larger default matrices (4096 and 8192, which a
GPU needs to reach its peak), several products per timed call, ``torch.cuda.synchronize()`` before and after the
timed region, and an fp16 peak as well (``--precision fp16`` is measured against it). fp32 matmuls run as torch is
set (``tf32_matmul`` in the result's device header says whether TF32 was allowed; torch's default is not).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    BatchShape,
    markdown_table,
    measure_recorded,
    quiet_transformers,
    repo_relative,
    run_header,
    set_threads,
    setup_lines,
    summarize_batches,
    synchronize,
    torch_module,
    write_results,
)
from .workloads import LABELS_8, dev_mix, label_pool, synthetic_texts

DEFAULT_LENGTHS = (64, 256, 512)
DEFAULT_MATMUL_SIZES = (1024, 2048)
CUDA_MATMUL_SIZES = (4096, 8192)
CUDA_PRODUCTS_PER_CALL = 10  # one product of 4096^3 takes well under a millisecond on a large GPU
PEAK_DTYPES = {"cpu": ("float32", "bfloat16"), "cuda": ("float32", "bfloat16", "float16")}
PRECISION_DTYPE = {"bf16": "bfloat16", "fp16": "float16"}  # the peak a precision is measured against (else fp32)
MLP_SCORER_WIDTHS = (256, 128)  # the official MLP/hopfield scorers ignore scorer_mlp_hidden_size


# ====================================================================== FLOPs
@dataclass(frozen=True)
class EncoderShape:
    layers: int
    hidden: int
    ffn: int

    @classmethod
    def from_config(cls, config: Any) -> EncoderShape:
        """From a transformers config (BERT/DeBERTa/ModernBERT/MPNet names, or T5's ``d_model``/``d_ff``)."""
        get = (lambda k: config.get(k)) if isinstance(config, dict) else (lambda k: getattr(config, k, None))
        layers = get("num_hidden_layers") or get("num_layers")
        hidden = get("hidden_size") or get("d_model")
        ffn = get("intermediate_size") or get("d_ff")
        if not (layers and hidden and ffn):
            raise ValueError("cannot read layers / hidden size / feed-forward width from the encoder config")
        return cls(int(layers), int(hidden), int(ffn))


def encoder_flops(shape: EncoderShape, rows: int, seq_len: int) -> int:
    """Matrix-product FLOPs of ``rows`` sequences of ``seq_len`` (padded) tokens through the encoder."""
    d, f, t = shape.hidden, shape.ffn, seq_len
    per_layer = 2 * t * (4 * d * d + 2 * d * f) + 4 * t * t * d
    return rows * shape.layers * per_layer


def head_flops(config: Any, rows: int, label_slots: int) -> tuple[int, bool]:
    """FLOPs of the GLiClass head for ``rows`` texts with ``label_slots`` label vectors each; ``exact`` flag.

    Projectors (``text_projector`` once per text, ``classes_projector`` per label slot) are two linears
    ``d -> h -> d``. Scorers: ``simple`` (a dot product), ``weighted-dot`` and ``mlp`` are counted; others
    (hopfield, cross-attn, ...) are counted as ``simple`` and the result is marked inexact.
    """
    d = EncoderShape.from_config(config.encoder_config).hidden
    h = int(getattr(config, "hidden_size", None) or d)
    projector = 2 * (d * h + h * d)
    pairs = rows * label_slots
    flops = rows * projector + pairs * projector
    scorer, exact = getattr(config, "scorer_type", "simple"), True
    if scorer == "weighted-dot":
        flops += rows * 2 * d * 2 * d + pairs * (2 * d * 2 * d + 2 * (3 * d * 4 * d + 4 * d))
    elif scorer == "mlp":
        a, b = MLP_SCORER_WIDTHS
        flops += pairs * 2 * (2 * d * a + a * b + b)
    else:
        exact = scorer == "simple"
        flops += pairs * 2 * d
    return flops, exact


def batches_flops(config: Any, batches: Sequence[BatchShape]) -> tuple[int, bool]:
    """Total FLOPs (and whether every head was counted exactly) of the recorded batches."""
    shape = EncoderShape.from_config(config.encoder_config)
    total, exact = 0, True
    for b in batches:
        head, head_exact = head_flops(config, b.rows, b.label_slots)
        total += encoder_flops(shape, b.rows, b.seq_len) + head
        exact = exact and head_exact
    return total, exact


# ====================================================================== peak
def matmul_peak(sizes: Sequence[int], repeats: int = 5, dtype: str = "float32", device: str = "cpu") -> dict[str, Any]:
    """``torch.matmul`` GFLOP/s in ``dtype`` on ``n x n`` matrices (best of ``repeats`` per size), current threads.

    On cuda each timed call is ``CUDA_PRODUCTS_PER_CALL`` products between two synchronizations, so launch
    latency and the asynchronous queue cannot inflate or deflate the rate.
    """
    import torch

    products = CUDA_PRODUCTS_PER_CALL if device == "cuda" else 1
    results = {}
    for n in sizes:
        a = torch.randn(n, n, dtype=getattr(torch, dtype), device=device)
        b = torch.randn(n, n, dtype=getattr(torch, dtype), device=device)
        torch.matmul(a, b)  # warm-up: thread pool, allocator, cuBLAS handle
        synchronize(device)
        best = float("inf")
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            for _ in range(products):
                torch.matmul(a, b)
            synchronize(device)
            best = min(best, (time.perf_counter() - start) / products)
        results[str(n)] = 2 * n**3 / best / 1e9
        del a, b
    return {"gflops_by_size": results, "peak_gflops": max(results.values())}


def peaks(sizes: Sequence[int], device: str) -> dict[str, dict[str, Any]]:
    """The matmul peak of every dtype measured on ``device`` (fp32 and bf16; fp16 too on cuda)."""
    return {dtype: matmul_peak(sizes, dtype=dtype, device=device) for dtype in PEAK_DTYPES[device]}


# ====================================================================== run
@dataclass
class EfficiencySetup:
    model: str | None
    threads: int = 2
    batch_size: int = 32
    max_length: int = 512
    texts: int = 128
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    labels: int = 8
    matmul_sizes: tuple[int, ...] = DEFAULT_MATMUL_SIZES
    repeats: int = 3
    min_time: float = 1.0
    seed: int = 0
    quick: bool = False  # --quick: a smoke test; results say they are not a measurement
    precision: str = "fp32"  # Classifier.from_pretrained(precision=...): fp32, bf16, int8 (CPU) or fp16 (GPU)
    device: str = "cpu"  # cpu or cuda (resolved by the command line)


def workloads(clf: Any, setup: EfficiencySetup) -> dict[str, tuple[list[str], list[str]]]:
    """The dev-set mix (the 8 labels of the official comparison) and synthetic texts of each length.

    The synthetic texts get ``setup.labels`` real-word labels.
    """
    labels = label_pool(clf.tokenizer, setup.labels)
    extra = [label for label in labels if label not in LABELS_8]
    dev_labels = (list(LABELS_8) + extra)[: setup.labels]
    out = {"dev mix (RT + BBC)": ([item["text"] for item in dev_mix(setup.texts, setup.seed)], dev_labels)}
    for length in setup.lengths:
        out[f"synthetic ~{length} tokens"] = (synthetic_texts(clf.tokenizer, length, setup.texts, setup.seed), labels)
    return out


def measure_workload(clf: Any, texts: list[str], labels: list[str], setup: EfficiencySetup) -> dict[str, Any]:
    """Record one call's batches (FLOPs), then time calls end to end and the model forwards inside them."""
    shapes, timing, forward_s = measure_recorded(lambda: clf.scores(texts, labels, batch_size=setup.batch_size),
                                                 torch_module(clf), items=len(texts), repeats=setup.repeats,
                                                 min_time=setup.min_time)
    flops, exact = batches_flops(clf.config, shapes)
    return {
        "texts": len(texts), "labels": len(labels), "batches": summarize_batches(shapes),
        "flops_per_call": flops, "gflop_per_text": flops / len(texts) / 1e9, "flops_exact": exact,
        "texts_per_s": timing.per_second, "timing": timing.as_dict(), "forward_s_per_call": forward_s,
        "achieved_gflops": flops / timing.median_s / 1e9,
        "achieved_gflops_forward": flops / forward_s / 1e9 if forward_s > 0 else None,
    }


def render_markdown(payload: dict[str, Any]) -> str:
    peak, setup = payload["peak"], payload["setup"]
    parts = ["# Efficiency: FLOPs per text and fraction of the measured matmul peak\n", setup_lines(payload["header"])]
    fp16 = (f"; peak fp16 matmul: {payload['peak_fp16']['peak_gflops']:.1f} GFLOP/s"
            if payload.get("peak_fp16") else "")
    sizes = ", ".join(f"{n}: {g:.1f}" for n, g in peak["start"]["gflops_by_size"].items())
    parts.append(
        f"Model `{payload['checkpoint']}` ({payload['encoder']}), precision {setup.get('precision', 'fp32')}, batch "
        f"size {setup['batch_size']}, max_length {setup['max_length']}, torch backend. Peak fp32 matmul: "
        f"{peak['peak_gflops']:.1f} GFLOP/s (best of start [{sizes}] and end of the run, "
        f"{peak['end']['peak_gflops']:.1f}); "
        f"peak bf16 matmul: {payload['peak_bf16']['peak_gflops']:.1f} GFLOP/s{fp16} in "
        "the same run. \"of peak\" is against the peak of the run's precision (bf16 for bf16, fp16 for fp16, fp32 "
        "otherwise). End "
        "to end includes tokenisation and batching; forward is the model calls alone.\n\n")
    rows = [[name, w["texts"], w["labels"], w["batches"]["padded_tokens"] / w["texts"], w["gflop_per_text"],
             w["texts_per_s"], w["achieved_gflops"], w["fraction_of_peak"], w["achieved_gflops_forward"],
             w["fraction_of_peak_forward"], w["fraction_of_bf16_peak_forward"]]
            for name, w in payload["workloads"].items()]
    parts.append(markdown_table(["workload", "texts", "labels", "padded tokens/text", "GFLOP/text", "texts/s",
                                 "GFLOP/s end to end", "of peak", "GFLOP/s forward", "of peak (forward)",
                                 "of bf16 peak (forward)"], rows))
    if not all(w["flops_exact"] for w in payload["workloads"].values()):
        parts.append("\nThe scorer of this checkpoint is counted approximately (as a dot product).\n")
    return "".join(parts)


def run(setup: EfficiencySetup, out_dir: str | Path) -> dict[str, Any]:
    """Measure the peak, run each workload, measure the peak again; write ``efficiency.json``/``.md``."""
    from uniclass.classifier import DEFAULT_MODEL_DIR, Classifier

    threads = set_threads(setup.threads)
    quiet_transformers()
    # prior=False: the FLOPs counted are the GLiClass network's; a checkpoint's embedding prior is a second model
    clf = Classifier.from_pretrained(setup.model, device=setup.device, max_length=setup.max_length,
                                     precision=setup.precision, prior=False)
    if clf.config.architecture_type != "uni-encoder":
        raise ValueError(f"the efficiency benchmark counts uni-encoder FLOPs; got a {clf.config.architecture_type} checkpoint")
    start = peaks(setup.matmul_sizes, setup.device)
    print("efficiency bench: matmul peak " + ", ".join(f"{p['peak_gflops']:.1f} GFLOP/s {dtype}"
                                                        for dtype, p in start.items()), flush=True)
    results = {}
    for name, (texts, labels) in workloads(clf, setup).items():
        results[name] = measure_workload(clf, texts, labels, setup)
        print(f"efficiency bench: {name:24s} {results[name]['gflop_per_text']:.3f} GFLOP/text "
              f"{results[name]['achieved_gflops']:.1f} GFLOP/s end to end", flush=True)
    end = peaks(setup.matmul_sizes, setup.device)
    best = {dtype: max(start[dtype]["peak_gflops"], end[dtype]["peak_gflops"]) for dtype in start}
    fp32_peak, bf16_peak = best["float32"], best["bfloat16"]
    precision = clf.require_torch("the efficiency benchmark").precision
    peak = best[PRECISION_DTYPE.get(precision, "float32")]
    for result in results.values():  # fractions against the best peak seen in the run
        result["fraction_of_peak"] = result["achieved_gflops"] / peak
        forward = result["achieved_gflops_forward"]
        result["fraction_of_peak_forward"] = forward / peak if forward else None
        result["fraction_of_bf16_peak"] = result["achieved_gflops"] / bf16_peak
        result["fraction_of_bf16_peak_forward"] = forward / bf16_peak if forward else None
    shape = EncoderShape.from_config(clf.config.encoder_config)
    payload = {
        "benchmark": "efficiency",
        "header": run_header(threads, setup.device, quick=setup.quick),
        "setup": vars(setup) | {"lengths": list(setup.lengths), "matmul_sizes": list(setup.matmul_sizes)},
        "checkpoint": repo_relative(setup.model or DEFAULT_MODEL_DIR),
        "encoder": f"{shape.layers} layers, d={shape.hidden}, d_ff={shape.ffn}",
        "formula": "per layer and sequence: 2*T*(4*d^2 + 2*d*d_ff) + 4*T^2*d over padded tokens T; plus head",
        "precision": precision,
        "peak": {"start": start["float32"], "end": end["float32"], "peak_gflops": fp32_peak},
        "peak_bf16": {"start": start["bfloat16"], "end": end["bfloat16"], "peak_gflops": bf16_peak},
        "peak_used": peak,
        "workloads": results,
    }
    if "float16" in best:
        payload["peak_fp16"] = {"start": start["float16"], "end": end["float16"], "peak_gflops": best["float16"]}
    paths = write_results(out_dir, "efficiency", payload, render_markdown(payload))
    payload["files"] = {k: str(v) for k, v in paths.items()}
    return payload


# ====================================================================== command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="uni-encoder checkpoint (default: the bundled model)")
    parser.add_argument("--texts", type=int, default=None, help="texts per workload (default 128)")
    parser.add_argument("--lengths", nargs="+", type=int, default=None, help="synthetic text lengths (default 64 256 512)")
    parser.add_argument("--labels", type=int, default=8, help="labels per text (default 8)")
    parser.add_argument("--matmul-sizes", nargs="+", type=int, default=None,
                        help="square matmul sizes (default 1024 2048; on cuda 4096 8192)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16", "int8"], default="fp32",
                        help="inference precision of the classifier (fraction of the bf16 peak is always reported)")


def setup_from_args(args: argparse.Namespace) -> EfficiencySetup:
    quick = args.quick
    device = getattr(args, "device", "cpu")
    sizes = DEFAULT_MATMUL_SIZES if device == "cpu" else CUDA_MATMUL_SIZES
    return EfficiencySetup(
        model=args.model, threads=args.threads, batch_size=args.batch_size, max_length=args.max_length,
        texts=args.texts or (4 if quick else 128), lengths=tuple(args.lengths or ((32,) if quick else DEFAULT_LENGTHS)),
        labels=args.labels, matmul_sizes=tuple(args.matmul_sizes or ((256,) if quick else sizes)),
        repeats=args.repeats if args.repeats is not None else (1 if quick else 3),
        min_time=args.min_time if args.min_time is not None else (0.0 if quick else 1.0), seed=args.seed, quick=quick,
        precision=getattr(args, "precision", "fp32"), device=device,
    )


def headline(payload: dict[str, Any]) -> str:
    fp16 = f", {payload['peak_fp16']['peak_gflops']:.1f} GFLOP/s fp16" if payload.get("peak_fp16") else ""
    lines = [f"matmul peak: {payload['peak']['peak_gflops']:.1f} GFLOP/s fp32, "
             f"{payload['peak_bf16']['peak_gflops']:.1f} GFLOP/s bf16{fp16} (precision {payload['precision']})"]
    lines += [f"{name}: {w['gflop_per_text']:.3f} GFLOP/text, {w['texts_per_s']:.2f} texts/s, "
              f"{w['achieved_gflops']:.1f} GFLOP/s = {w['fraction_of_peak']:.1%} of peak, "
              f"{w['fraction_of_bf16_peak']:.1%} of the bf16 peak"
              for name, w in payload["workloads"].items()]
    return "\n".join(lines)
