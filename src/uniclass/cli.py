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
    train = commands.add_parser(
        "train",
        help="train a GLiClass model from a backbone, or fine-tune a GLiClass model",
        description="Train on JSON/JSONL items {text, all_labels, true_labels}; checkpoints resume with --resume.",
    )
    start = train.add_mutually_exclusive_group(required=True)
    start.add_argument("--backbone", help="pretrained encoder folder or hub id to start a new model from")
    start.add_argument("--model", help="GLiClass checkpoint to fine-tune")
    train.add_argument("--train", required=True, help="training file (.json or .jsonl)")
    train.add_argument("--eval", default=None, help="evaluation file, scored every --eval-steps")
    train.add_argument("--out", required=True, help="output folder (checkpoints and the final model in OUT/final)")
    train.add_argument("--architecture", default="uni-encoder", help="for --backbone: uni-encoder, bi-encoder, ...")
    train.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="config option for --backbone, e.g. --option pooling_strategy=avg (JSON values)")
    train.add_argument("--epochs", type=float, default=1.0)
    train.add_argument("--max-steps", type=int, default=-1)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--grad-accum", type=int, default=1)
    train.add_argument("--lr", type=float, default=3e-5, help="encoder learning rate")
    train.add_argument("--head-lr", type=float, default=None, help="head learning rate (default 3x --lr)")
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--warmup-ratio", type=float, default=0.05)
    train.add_argument("--scheduler", default="linear")
    train.add_argument("--loss", choices=["focal", "softmax"], default="focal")
    train.add_argument("--focal-alpha", type=float, default=-1.0)
    train.add_argument("--focal-gamma", type=float, default=0.0)
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--negatives", type=int, default=0, help="random negative labels per item")
    train.add_argument("--max-length", type=int, default=512)
    train.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into the saved model)")
    train.add_argument("--lora-r", type=int, default=8)
    train.add_argument("--save-steps", type=int, default=500)
    train.add_argument("--eval-steps", type=int, default=500)
    train.add_argument("--logging-steps", type=int, default=50)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--bf16", action="store_true")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a model on labelled data",
        description="Single-label (argmax, macro-F1, as in the GLiClass paper) or multi-label (F1 at a threshold, "
        "ECE, Brier) evaluation on a JSON/JSONL file or a corpus name (bbc_news, rotten_tomatoes, foldoc).",
    )
    evaluate.add_argument("--model", required=True, help="GLiClass checkpoint folder or hub id")
    evaluate.add_argument("--data", required=True, nargs="+", help="files or corpus names")
    evaluate.add_argument("--multi-label", action="store_true", help="multi-label protocol instead of single-label")
    evaluate.add_argument("--threshold", type=float, default=0.5)
    evaluate.add_argument("--limit", type=int, default=None, help="seeded random subset of N items per dataset")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--max-length", type=int, default=None)
    evaluate.add_argument("--device", default="auto")
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    from .classifier import Classifier
    from .evaluation.runner import evaluate, load_eval_data

    clf = Classifier.from_pretrained(args.model, device=args.device, max_length=args.max_length)
    reports = {}
    for data in args.data:
        examples = load_eval_data(data, args.limit)
        reports[data] = evaluate(clf, examples, multi_label=args.multi_label, threshold=args.threshold, batch_size=args.batch_size)
        print(json.dumps({"data": data, **reports[data]}))
    if len(reports) > 1:
        key = "micro_f1" if args.multi_label else "macro_f1"
        print(json.dumps({"data": "mean", key: sum(r[key] for r in reports.values()) / len(reports)}))
    return 0


def _parse_options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .classifier import Classifier
    from .training import Trainer, TrainingArguments

    if args.backbone:
        clf = Classifier.from_backbone(args.backbone, args.architecture, **_parse_options(args.option))
    else:
        clf = Classifier.from_pretrained(args.model)
    out = Path(args.out)
    training_args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,
        lr_scheduler_type=args.scheduler,
        loss=args.loss,
        focal_alpha=args.focal_alpha,
        focal_gamma=args.focal_gamma,
        label_smoothing=args.label_smoothing,
        negatives_per_item=args.negatives,
        max_length=args.max_length,
        use_lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        save_steps=args.save_steps,
        save_total_limit=3,
        eval_strategy="steps" if args.eval else "no",
        eval_steps=args.eval_steps,
        logging_steps=args.logging_steps,
        seed=args.seed,
        bf16=args.bf16,
    )
    trainer = Trainer(clf, training_args, train_data=args.train, eval_data=args.eval)
    resume = args.resume and any(out.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = clf.save_pretrained(out / "final")
    print(json.dumps({"model": str(final), "steps": trainer.state.global_step}))
    return 0


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
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _evaluate(args)
    except (ValueError, TypeError, FileNotFoundError, OSError) as err:
        print(f"uniclass: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
