"""``uniclass eval``: evaluate a model on the user's labelled files (single- or multi-label protocol)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate a model on labelled data",
        description="Single-label (argmax, macro-F1, as in the GLiClass paper) or multi-label (F1 at a threshold, "
        "ECE, Brier) evaluation on labelled JSON/JSONL files ({text, all_labels, true_labels} items).",
    )
    evaluate.add_argument(
        "--model",
        default=None,
        help="GLiClass checkpoint folder, hub id or bundled model name "
        "(uniclass-minilm, uniclass-multilingual; default: uniclass-minilm)",
    )
    evaluate.add_argument("--data", required=True, nargs="+", help="labelled JSON/JSONL files")
    evaluate.add_argument("--multi-label", action="store_true", help="multi-label protocol instead of single-label")
    evaluate.add_argument("--threshold", type=float, default=0.5)
    evaluate.add_argument("--limit", type=int, default=None, help="seeded random subset of N items per dataset")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--max-length", type=int, default=None)
    evaluate.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from ..classifier import Classifier
    from ..evaluation.runner import evaluate, load_eval_data

    clf = Classifier.from_pretrained(args.model, device=args.device, max_length=args.max_length)
    reports = {}
    for data in args.data:
        examples = load_eval_data(data, args.limit)
        reports[data] = evaluate(
            clf, examples, multi_label=args.multi_label, threshold=args.threshold, batch_size=args.batch_size
        )
        print(json.dumps({"data": data, **reports[data]}))
    if len(reports) > 1:
        key = "micro_f1" if args.multi_label else "macro_f1"
        print(json.dumps({"data": "mean", key: sum(r[key] for r in reports.values()) / len(reports)}))
    return 0
