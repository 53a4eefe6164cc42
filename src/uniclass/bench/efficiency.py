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
    torch_module,
    write_results,
)
from .workloads import LABELS_8, dev_mix, label_pool, synthetic_texts

DEFAULT_LENGTHS = (64, 256, 512)
DEFAULT_MATMUL_SIZES = (1024, 2048)
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
def matmul_peak(sizes: Sequence[int], repeats: int = 5, dtype: str = "float32") -> dict[str, Any]:
    """``torch.matmul`` GFLOP/s in ``dtype`` on ``n x n`` matrices (best of ``repeats`` per size), current threads."""
    import torch

    results = {}
    for n in sizes:
        a, b = torch.randn(n, n, dtype=getattr(torch, dtype)), torch.randn(n, n, dtype=getattr(torch, dtype))
        torch.matmul(a, b)  # warm-up: thread pool, allocator
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - start)
        results[str(n)] = 2 * n**3 / best / 1e9
    return {"gflops_by_size": results, "peak_gflops": max(results.values())}


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
    precision: str = "fp32"  # Classifier.from_pretrained(precision=...): fp32, bf16 or int8


def workloads(clf: Any, setup: EfficiencySetup) -> dict[str, tuple[list[str], list[str]]]:
    """The dev-set mix (the 8 labels of the official comparison) and synthetic texts of each length (``setup.labels`` real-word labels)."""
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
    sizes = ", ".join(f"{n}: {g:.1f}" for n, g in peak["start"]["gflops_by_size"].items())
    parts.append(
        f"Model `{payload['checkpoint']}` ({payload['encoder']}), precision {setup.get('precision', 'fp32')}, batch "
        f"size {setup['batch_size']}, max_length {setup['max_length']}, torch backend. Peak fp32 matmul: "
        f"{peak['peak_gflops']:.1f} GFLOP/s (best of start [{sizes}] and end of the run, "
        f"{peak['end']['peak_gflops']:.1f}); peak bf16 matmul: {payload['peak_bf16']['peak_gflops']:.1f} GFLOP/s in "
        "the same run. \"of peak\" is against the peak of the run's precision (bf16 for bf16, fp32 otherwise). End "
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
    from ..classifier import DEFAULT_MODEL_DIR, Classifier

    threads = set_threads(setup.threads)
    quiet_transformers()
    # prior=False: the FLOPs counted are the GLiClass network's; a checkpoint's embedding prior is a second model
    clf = Classifier.from_pretrained(setup.model, device="cpu", max_length=setup.max_length, precision=setup.precision,
                                     prior=False)
    if clf.config.architecture_type != "uni-encoder":
        raise ValueError(f"the efficiency benchmark counts uni-encoder FLOPs; got a {clf.config.architecture_type} checkpoint")
    start_peak = matmul_peak(setup.matmul_sizes)
    bf16_start = matmul_peak(setup.matmul_sizes, dtype="bfloat16")
    print(f"efficiency bench: matmul peak {start_peak['peak_gflops']:.1f} GFLOP/s fp32, "
          f"{bf16_start['peak_gflops']:.1f} bf16", flush=True)
    results = {}
    for name, (texts, labels) in workloads(clf, setup).items():
        results[name] = measure_workload(clf, texts, labels, setup)
        print(f"efficiency bench: {name:24s} {results[name]['gflop_per_text']:.3f} GFLOP/text "
              f"{results[name]['achieved_gflops']:.1f} GFLOP/s end to end", flush=True)
    end_peak = matmul_peak(setup.matmul_sizes)
    bf16_end = matmul_peak(setup.matmul_sizes, dtype="bfloat16")
    fp32_peak = max(start_peak["peak_gflops"], end_peak["peak_gflops"])
    bf16_peak = max(bf16_start["peak_gflops"], bf16_end["peak_gflops"])
    peak = bf16_peak if clf.backend.precision == "bf16" else fp32_peak
    for result in results.values():  # fractions against the best peak seen in the run
        result["fraction_of_peak"] = result["achieved_gflops"] / peak
        forward = result["achieved_gflops_forward"]
        result["fraction_of_peak_forward"] = forward / peak if forward else None
        result["fraction_of_bf16_peak"] = result["achieved_gflops"] / bf16_peak
        result["fraction_of_bf16_peak_forward"] = forward / bf16_peak if forward else None
    shape = EncoderShape.from_config(clf.config.encoder_config)
    payload = {
        "benchmark": "efficiency",
        "header": run_header(threads, quick=setup.quick),
        "setup": vars(setup) | {"lengths": list(setup.lengths), "matmul_sizes": list(setup.matmul_sizes)},
        "checkpoint": repo_relative(setup.model or DEFAULT_MODEL_DIR),
        "encoder": f"{shape.layers} layers, d={shape.hidden}, d_ff={shape.ffn}",
        "formula": "per layer and sequence: 2*T*(4*d^2 + 2*d*d_ff) + 4*T^2*d over padded tokens T; plus head",
        "precision": clf.backend.precision,
        "peak": {"start": start_peak, "end": end_peak, "peak_gflops": fp32_peak},
        "peak_bf16": {"start": bf16_start, "end": bf16_end, "peak_gflops": bf16_peak},
        "peak_used": peak,
        "workloads": results,
    }
    paths = write_results(out_dir, "efficiency", payload, render_markdown(payload))
    payload["files"] = {k: str(v) for k, v in paths.items()}
    return payload


# ====================================================================== command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="uni-encoder checkpoint (default: the bundled model)")
    parser.add_argument("--texts", type=int, default=None, help="texts per workload (default 128)")
    parser.add_argument("--lengths", nargs="+", type=int, default=None, help="synthetic text lengths (default 64 256 512)")
    parser.add_argument("--labels", type=int, default=8, help="labels per text (default 8)")
    parser.add_argument("--matmul-sizes", nargs="+", type=int, default=None, help="square matmul sizes (default 1024 2048)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32",
                        help="inference precision of the classifier (fraction of the bf16 peak is always reported)")


def setup_from_args(args: argparse.Namespace) -> EfficiencySetup:
    quick = args.quick
    return EfficiencySetup(
        model=args.model, threads=args.threads, batch_size=args.batch_size, max_length=args.max_length,
        texts=args.texts or (4 if quick else 128), lengths=tuple(args.lengths or ((32,) if quick else DEFAULT_LENGTHS)),
        labels=args.labels, matmul_sizes=tuple(args.matmul_sizes or ((256,) if quick else DEFAULT_MATMUL_SIZES)),
        repeats=args.repeats if args.repeats is not None else (1 if quick else 3),
        min_time=args.min_time if args.min_time is not None else (0.0 if quick else 1.0), seed=args.seed, quick=quick,
        precision=getattr(args, "precision", "fp32"),
    )


def headline(payload: dict[str, Any]) -> str:
    lines = [f"matmul peak: {payload['peak']['peak_gflops']:.1f} GFLOP/s fp32, "
             f"{payload['peak_bf16']['peak_gflops']:.1f} GFLOP/s bf16 (precision {payload['precision']})"]
    lines += [f"{name}: {w['gflop_per_text']:.3f} GFLOP/text, {w['texts_per_s']:.2f} texts/s, "
              f"{w['achieved_gflops']:.1f} GFLOP/s = {w['fraction_of_peak']:.1%} of peak, "
              f"{w['fraction_of_bf16_peak']:.1%} of the bf16 peak"
              for name, w in payload["workloads"].items()]
    return "\n".join(lines)
