"""Command line: ``uniclass classify``. Heavy imports (torch, transformers) happen only when a command runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uniclass", description="Zero-shot text classification with GLiClass models.")
    commands = parser.add_subparsers(dest="command", required=True)

    classify = commands.add_parser(
        "classify",
        help="classify texts against labels",
        description="Classify texts (arguments, or one per line on stdin) and print one JSON result per line.",
    )
    classify.add_argument("texts", nargs="*", help="texts to classify; read from stdin (one per line) if none")
    classify.add_argument("--labels", required=True, help="comma-separated labels, e.g. 'positive,negative'")
    classify.add_argument("--model", required=True, help="GLiClass checkpoint folder or hub id")
    classify.add_argument("--single-label", action="store_true", help="softmax over labels, keep the best one")
    classify.add_argument("--threshold", type=float, default=0.5, help="multi-label score threshold (default 0.5)")
    classify.add_argument("--top-k", type=int, default=None, help="keep at most K labels per text")
    classify.add_argument("--prompt", default=None, help="task description placed before the text")
    classify.add_argument("--batch-size", type=int, default=32)
    classify.add_argument("--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)")
    classify.add_argument("--device", default="auto")
    return parser


def _classify(args: argparse.Namespace) -> int:
    from .classifier import Classifier

    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError("no texts given (pass them as arguments or on stdin)")
    clf = Classifier.from_pretrained(args.model, device=args.device, max_length=args.max_length)
    results = clf.classify(
        texts,
        labels,
        multi_label=not args.single_label,
        threshold=args.threshold,
        top_k=args.top_k,
        prompt=args.prompt,
        batch_size=args.batch_size,
    )
    for text, result in zip(texts, results, strict=True):
        print(json.dumps({"text": text, "labels": result}, ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "classify":
            return _classify(args)
    except (ValueError, TypeError, FileNotFoundError, OSError) as err:
        print(f"uniclass: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
