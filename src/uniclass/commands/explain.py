"""``uniclass explain``: which sentences (or token chunks) of each text raise or lower each label's score
(``Classifier.explain``, occlusion), as JSON lines or, on a terminal, a readable list."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._options import add_backend_options, backend_options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    explain = subparsers.add_parser(
        "explain",
        help="show which sentences moved each label's score",
        description="Explain texts (arguments, or one per line on stdin) by occlusion: each sentence (or chunk) is "
        "removed in turn and the text scored again; its delta is score(text) - score(text without it).",
        epilog="example:\n  uniclass explain 'The striker scored. Shares fell 5%.' --labels sports,finance",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("texts", nargs="*", help="texts to explain; without texts, one per line on stdin")
    explain.add_argument(
        "--model",
        default=None,
        help=(
            "GLiClass checkpoint folder, hub id or bundled model name "
            "(uniclass-minilm, uniclass-multilingual; default: uniclass-minilm)"
        ),
    )
    label_source = explain.add_mutually_exclusive_group(required=True)
    label_source.add_argument("--labels", help="comma-separated labels, e.g. 'positive,negative'")
    label_source.add_argument("--labels-file", metavar="FILE", help="labels, one per line")
    explain.add_argument(
        "--single-label", action="store_true", help="softmax over the labels (default: sigmoid per label)"
    )
    explain.add_argument("--prompt", default=None, help="task description placed before the text")
    explain.add_argument(
        "--unit",
        choices=["sentence", "chunk"],
        default="sentence",
        help="sentence (regex splitter, default) or chunk (runs of --chunk-tokens tokens)",
    )
    explain.add_argument("--max-units", type=int, default=None, help="at most this many units per text (default 32)")
    explain.add_argument(
        "--chunk-tokens", type=int, default=None, help="tokens per chunk with --unit chunk (default 24)"
    )
    explain.add_argument(
        "--format",
        choices=["jsonl", "text"],
        default=None,
        help="jsonl (Explanation.to_dict per line) or text (default: text on a terminal, else jsonl)",
    )
    runtime = explain.add_argument_group("model runtime")
    runtime.add_argument("--batch-size", type=int, default=32)
    runtime.add_argument(
        "--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)"
    )
    runtime.add_argument("--device", default="auto")
    add_backend_options(runtime)


def run(args: argparse.Namespace) -> int:
    from .. import tabular_io as uio
    from ..classifier import Classifier

    labels = uio.read_labels_file(args.labels_file) if args.labels_file else uio.parse_labels(args.labels)
    texts = list(args.texts) or [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    options: dict[str, Any] = {
        k: v for k, v in (("max_units", args.max_units), ("chunk_tokens", args.chunk_tokens)) if v is not None
    }
    clf = Classifier.from_pretrained(
        args.model, device=args.device, max_length=args.max_length, **backend_options(args)
    )
    explanations = (
        clf.explain(
            texts,
            labels,
            unit=args.unit,
            multi_label=not args.single_label,
            prompt=args.prompt,
            batch_size=args.batch_size,
            show_progress=False,
            **options,
        )
        if texts
        else []
    )
    as_text = args.format == "text" or (args.format is None and sys.stdout.isatty())
    for explanation in explanations:
        print(_as_text(explanation) if as_text else json.dumps(explanation.to_dict(), ensure_ascii=False))
    return 0


def _as_text(explanation: Any) -> str:
    """Per label (best first), its score and each unit with its signed delta."""
    lines = [explanation.text]
    ranked = sorted(zip(explanation.scores, explanation.labels, explanation.deltas, strict=True), key=lambda x: -x[0])
    for score, label, deltas in ranked:
        lines.append(f"  {label}: {score:.3f}")
        lines.extend(f"    {delta:+.3f}  {unit.text}" for unit, delta in zip(explanation.units, deltas, strict=True))
    return "\n".join(lines)
