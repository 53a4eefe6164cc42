"""Command line: ``uniclass classify|serve|train|eval|bench|export``. Heavy imports (torch, transformers) happen
only when a command runs, so ``uniclass --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def _build_parser() -> argparse.ArgumentParser:
    # Both modules are light: the benchmarks and the export import torch only when they run.
    from .exporters.cli import add_export_parser
    from .bench.cli import add_bench_parser

    parser = argparse.ArgumentParser(prog="uniclass", description="Zero-shot text classification with GLiClass models.")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_classify_parser(commands)
    _add_serve_parser(commands)
    add_bench_parser(commands)
    add_export_parser(commands)
    train = commands.add_parser(
        "train",
        help="train a GLiClass model from a backbone, or fine-tune a GLiClass model",
        description="Train on JSON/JSONL items {text, all_labels, true_labels}; checkpoints resume with --resume. "
        "--stage rl runs PPO-style RL, --stage post LoRA post-training (with EWC via --ewc-previous); --recipe runs a "
        "multi-stage recipe (see uniclass.training.stages).",
    )
    start = train.add_mutually_exclusive_group(required=False)  # required unless --recipe (checked in _train)
    start.add_argument("--backbone", help="pretrained encoder folder or hub id to start a new model from")
    start.add_argument("--model", help="GLiClass checkpoint to fine-tune")
    train.add_argument("--train", default=None, help="training file (.json or .jsonl); required unless --recipe")
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
    train.add_argument("--recipe", default=None, metavar="FILE",
                       help="multi-stage recipe (JSON): stages run in order into OUT/<stage>/; finished stages are skipped "
                       "and an interrupted one resumes from its last checkpoint")
    train.add_argument("--stage", default=None,
                       help="with --recipe: stop after this stage; without: pretrain (supervised, default), rl (PPO-style "
                       "RL) or post (supervised with LoRA; EWC with --ewc-previous)")
    train.add_argument("--ewc-previous", default=None, metavar="FILE", help="earlier training data to protect with EWC")
    train.add_argument("--ewc-lambda", type=float, default=0.0, help="EWC strength (needed with --ewc-previous)")
    train.add_argument("--ewc-samples", type=int, default=256, help="texts used to estimate the EWC Fisher")
    rl = train.add_argument_group("RL (--stage rl)")
    rl.add_argument("--clip-epsilon", type=float, default=0.2, help="PPO clip range")
    rl.add_argument("--rl-iters", type=int, default=3, help="optimiser steps per rollout")
    rl.add_argument("--kl-coef", type=float, default=0.0, help="KL penalty to the starting model (0: off)")
    rl.add_argument("--entropy-coef", type=float, default=0.0, help="entropy bonus (0: off)")
    rl.add_argument("--baseline", choices=["mean", "value_head"], default="mean")
    rl.add_argument("--reward", action="append", default=[], metavar="NAME=WEIGHT",
                    help="reward component f1, recall, accuracy or module:function, repeatable (default f1=1)")
    rl.add_argument("--greedy-threshold", type=float, default=None, help="greedy actions p > T instead of sampling")
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a model on labelled data",
        description="Single-label (argmax, macro-F1, as in the GLiClass paper) or multi-label (F1 at a threshold, "
        "ECE, Brier) evaluation on a JSON/JSONL file or a corpus name (bbc_news, rotten_tomatoes, foldoc).",
    )
    evaluate.add_argument("--model", default=None, help="GLiClass checkpoint folder or hub id (default: the bundled model)")
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

    if args.recipe:
        return _train_recipe(args)
    stage = args.stage or "pretrain"
    if stage not in ("pretrain", "rl", "post"):
        raise ValueError(f"--stage must be pretrain, rl or post (or a stage name with --recipe), got {stage!r}")
    if not (args.backbone or args.model) or not args.train:
        raise ValueError("uniclass train needs --backbone or --model, and --train (or a --recipe)")
    if args.ewc_previous and not args.ewc_lambda > 0:
        raise ValueError("--ewc-previous needs --ewc-lambda > 0")
    if args.backbone:
        clf = Classifier.from_backbone(args.backbone, args.architecture, **_parse_options(args.option))
    else:
        clf = Classifier.from_pretrained(args.model)
    out = Path(args.out)
    if stage == "rl":
        return _train_rl(args, clf, out)
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
        use_lora=args.lora or stage == "post",
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        save_steps=args.save_steps,
        save_total_limit=3,
        eval_strategy="steps" if args.eval else "no",
        eval_steps=args.eval_steps,
        logging_steps=args.logging_steps,
        seed=args.seed,
        bf16=args.bf16,
        ewc_lambda=args.ewc_lambda,
        ewc_samples=args.ewc_samples,
    )
    trainer = Trainer(clf, training_args, train_data=args.train, eval_data=args.eval, previous_data=args.ewc_previous)
    resume = args.resume and any(out.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = clf.save_pretrained(out / "final")
    print(json.dumps({"model": str(final), "steps": trainer.state.global_step}))
    return 0


def _train_rl(args: argparse.Namespace, clf: Any, out: Any) -> int:
    """``--stage rl``: the RL trainer with the shared schedule flags; writes OUT/checkpoint-N and OUT/final."""
    from .training import RLTrainer, RLTrainingArguments
    from .training.rl import checkpoints

    unsupported = [flag for flag, used in (("--eval", args.eval), ("--bf16", args.bf16), ("--grad-accum", args.grad_accum != 1),
                                           ("--ewc-previous", args.ewc_previous)) if used]
    if unsupported:
        raise ValueError(f"--stage rl does not support {', '.join(unsupported)}")
    rewards = {}
    for pair in args.reward:
        name, sep, weight = pair.rpartition("=")
        if not sep or not name:
            raise ValueError(f"--reward expects NAME=WEIGHT, got {pair!r}")
        rewards[name] = (name, float(weight))
    rl_args = RLTrainingArguments(
        output_dir=str(out), num_train_epochs=args.epochs, max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, head_learning_rate=args.head_lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_ratio,
        lr_scheduler_type=args.scheduler, negatives_per_item=args.negatives, max_length=args.max_length, use_lora=args.lora,
        lora_r=args.lora_r, lora_alpha=2 * args.lora_r, save_steps=args.save_steps, save_total_limit=3,
        logging_steps=args.logging_steps, seed=args.seed, clip_epsilon=args.clip_epsilon, num_rl_iters=args.rl_iters,
        kl_coef=args.kl_coef, entropy_coef=args.entropy_coef, baseline=args.baseline, reward_components=rewards or None,
        greedy_threshold=args.greedy_threshold,
    )
    trainer = RLTrainer(clf, rl_args, train_data=args.train)
    resume = args.resume and bool(checkpoints(out))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = clf.save_pretrained(out / "final")
    print(json.dumps({"model": str(final), "steps": trainer.state.global_step}))
    return 0


def _train_recipe(args: argparse.Namespace) -> int:
    """``--recipe``: every stage (or up to ``--stage``); one JSON line per stage, then the final model."""
    from .training import run_stages

    if args.backbone or args.model or args.train:
        raise ValueError("--recipe names the starting model and the data itself: drop --backbone/--model/--train")
    summaries = run_stages(args.recipe, args.out, until=args.stage)
    for summary in summaries:
        print(json.dumps({key: summary.get(key) for key in ("name", "kind", "final", "steps", "skipped", "resumed_from")}))
    print(json.dumps({"model": summaries[-1]["final"], "stages": [s["name"] for s in summaries]}))
    return 0


# ====================================================================== classify
def _add_classify_parser(commands: argparse._SubParsersAction) -> None:
    classify = commands.add_parser(
        "classify",
        help="classify texts against labels",
        description="Classify texts (arguments, one per line on stdin, or a JSONL/CSV/Parquet --input file) and "
        "write one result per text: JSON lines by default, a table on a terminal, or JSONL/CSV/Parquet with --output.",
        epilog="examples:\n"
        "  uniclass classify 'Shares fell 5%' --labels sports,finance --model M\n"
        "  uniclass classify --input reviews.parquet --text-column body --labels-file labels.txt --model M \\\n"
        "      --single-label --output scored.parquet --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classify.add_argument("texts", nargs="*", help="texts to classify; without texts or --input, one per line on stdin")
    classify.add_argument("--model", default=None, help="GLiClass checkpoint folder or hub id (default: the bundled model)")
    source = classify.add_argument_group("input")
    source.add_argument("--input", "-i", metavar="FILE", help="JSONL, CSV or Parquet file of texts (by extension)")
    source.add_argument("--input-format", choices=["jsonl", "csv", "parquet"], help="format of --input if its extension does not say")
    source.add_argument("--text-column", default="text", help="field or column holding the text (default: text)")
    labels = classify.add_argument_group("labels and decisions")
    label_source = labels.add_mutually_exclusive_group(required=True)
    label_source.add_argument("--labels", help="comma-separated labels, e.g. 'positive,negative'")
    label_source.add_argument("--labels-file", metavar="FILE", help="labels, one per line (labels may contain commas)")
    mode = labels.add_mutually_exclusive_group()
    mode.add_argument("--multi-label", dest="single_label", action="store_false", help="sigmoid per label, keep those over the threshold (default)")
    mode.add_argument("--single-label", dest="single_label", action="store_true", help="softmax over labels, keep the best one")
    labels.add_argument("--threshold", type=float, default=None, help="multi-label score threshold (default: the model's fitted thresholds, else 0.5)")
    labels.add_argument("--top-k", type=int, default=None, help="keep at most K labels per text")
    labels.add_argument("--prompt", default=None, help="task description placed before the text")
    output = classify.add_argument_group("output")
    output.add_argument("--output", "-o", metavar="FILE", help="write results to a .jsonl, .csv or .parquet file")
    output.add_argument("--format", choices=["jsonl", "csv", "parquet", "table"], default=None,
                        help="output format (default: from --output's extension; on stdout a table on a terminal, else jsonl)")
    output.add_argument("--resume", action="store_true", help="keep the rows already in --output, classify the rest and append")
    output.add_argument("--chunk-size", type=int, default=256, help="rows classified and written at a time (default 256)")
    output.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: on a terminal for inputs longer than one chunk)")
    runtime = classify.add_argument_group("model runtime")
    runtime.add_argument("--batch-size", type=int, default=32)
    runtime.add_argument("--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)")
    runtime.add_argument("--device", default="auto")
    _add_backend_options(runtime)
    scale = classify.add_argument_group("scaling out (Ray Data; pip install 'uniclass[ray]')")
    scale.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="ray: read the --input Parquet/JSONL file or folder with Ray Data, classify with a pool of "
                       "actors and write Parquet files into the --output folder (input columns + label, score)")
    scale.add_argument("--num-actors", type=int, default=None, help="actors in the pool, each loading the model once (default 1)")
    scale.add_argument("--cpus-per-actor", type=float, default=1.0, help="Ray CPUs reserved per actor (default 1)")
    scale.add_argument("--gpus-per-actor", type=float, default=0.0, help="Ray GPUs per actor (use with --device cuda)")
    scale.add_argument("--ray-address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)")
    classify.set_defaults(single_label=False)


def _classify(args: argparse.Namespace) -> int:
    """Stream texts through the model a chunk at a time, writing (and flushing) each chunk's results."""
    from . import io as uio

    if args.engine == "ray":
        return _classify_ray(args)
    if args.num_actors is not None:
        raise ValueError("--num-actors needs --engine ray")
    labels = uio.read_labels_file(args.labels_file) if args.labels_file else uio.parse_labels(args.labels)
    out_format = _output_format(args)
    _check_classify_options(args, labels)
    skip = uio.resume_point(args.output, out_format) if args.resume else 0
    chunks, total = _text_chunks(args, skip)
    chunks = _primed(chunks)
    if total is not None and skip > total:
        raise ValueError(f"cannot resume: {args.output} has {skip} rows but the input has only {total}")
    if skip:
        print(f"uniclass: resuming: {skip} rows already in {args.output}", file=sys.stderr)
    sink = uio.open_sink(args.output, out_format, append=args.resume)
    progress = _progress_bar(args, None if total is None else total - skip)
    classify = _chunk_classifier(args, labels)
    written = 0
    try:
        with _sigterm_as_interrupt():
            for chunk in chunks:
                sink.write(chunk, classify(chunk))
                written += len(chunk)
                progress.update(len(chunk))
    finally:
        progress.close()
        sink.close()
    if written == 0 and skip == 0 and not args.input:
        raise ValueError("no texts given (pass them as arguments, on stdin, or with --input FILE)")
    return 0


def _classify_ray(args: argparse.Namespace) -> int:
    """``--engine ray``: the same classification as a Ray Data job (uniclass.integrations.ray.classify_dataset)."""
    from . import io as uio

    if not args.input or not args.output:
        raise ValueError("--engine ray needs --input FILE_OR_FOLDER (Parquet or JSONL) and --output FOLDER (Parquet files)")
    unsupported = [flag for flag, used in (
        ("text arguments", bool(args.texts)), ("--resume", args.resume), ("--format", args.format not in (None, "parquet")),
        ("--input-format csv", args.input_format == "csv"),
    ) if used]
    if unsupported:
        raise ValueError(f"--engine ray does not support {', '.join(unsupported)}")
    labels = uio.read_labels_file(args.labels_file) if args.labels_file else uio.parse_labels(args.labels)
    _check_classify_options(args, labels)
    from .integrations.ray import classify_dataset

    output = classify_dataset(
        args.input, args.output, labels, model=args.model, input_format=args.input_format, text_column=args.text_column,
        multi_label=not args.single_label, threshold=args.threshold, top_k=args.top_k, prompt=args.prompt,
        num_actors=args.num_actors or 1, batch_size=args.batch_size, rows_per_batch=args.chunk_size,
        num_cpus_per_actor=args.cpus_per_actor, num_gpus_per_actor=args.gpus_per_actor, address=args.ray_address,
        device=args.device, max_length=args.max_length,
    )
    print(json.dumps({"output": output}))
    return 0


def _output_format(args: argparse.Namespace) -> str:
    """--format, else the --output extension, else a table for a person at a terminal and JSON lines otherwise."""
    from .io import detect_format

    if args.output:
        return detect_format(args.output, args.format)
    if args.resume:
        raise ValueError("--resume needs --output FILE (the rows already written there are skipped)")
    if args.format:
        return args.format
    return "table" if sys.stdout.isatty() else "jsonl"


def _check_classify_options(args: argparse.Namespace, labels: list[str]) -> None:
    """Reject bad labels and options before the model loads and before any output file is touched."""
    from .postprocessing import check_top_k, normalize_thresholds
    from .processing import normalize_request

    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if args.input and args.texts:
        raise ValueError("give texts as arguments or with --input FILE, not both")
    normalize_request([""], labels, multi_label=not args.single_label, prompt=args.prompt)
    check_top_k(args.top_k)
    if args.threshold is not None:
        normalize_thresholds(args.threshold, 1)


def _text_chunks(args: argparse.Namespace, skip: int) -> tuple[Iterator[list[str]], int | None]:
    """The texts to classify, in chunks after the first ``skip``, and how many there are (None: unknown)."""
    from pathlib import Path

    from . import io as uio

    if args.input:
        if not Path(args.input).is_file():
            raise FileNotFoundError(f"--input {args.input}: no such file")
        fmt = uio.detect_format(args.input, args.input_format)
        total = uio.count_rows(args.input, fmt, args.text_column)
        return uio.iter_text_chunks(args.input, fmt, args.text_column, args.chunk_size, skip), total
    if args.texts:
        return uio.rechunk(args.texts, args.chunk_size, skip), len(args.texts)
    if sys.stdin.isatty():
        raise ValueError("no texts given (pass them as arguments, on stdin, or with --input FILE)")
    lines = (line.rstrip("\r\n") for line in sys.stdin if line.strip())
    return uio.rechunk(lines, args.chunk_size, skip), None


def _primed(chunks: Iterator[list[str]]) -> Iterator[list[str]]:
    """Read the first chunk now, so a missing column or a broken first line fails before the output is touched."""
    from itertools import chain

    first = next(chunks, None)
    return chunks if first is None else chain([first], chunks)


def _chunk_classifier(args: argparse.Namespace, labels: list[str]) -> Callable[[list[str]], list[Any]]:
    """A function classifying one chunk; the model loads on the first chunk (none left: never loaded)."""
    state: dict[str, Any] = {}

    def classify(texts: list[str]) -> list[Any]:
        if "clf" not in state:
            from .classifier import Classifier

            state["clf"] = Classifier.from_pretrained(args.model, device=args.device, max_length=args.max_length,
                                                      **_backend_options(args))
        return state["clf"].classify(
            texts, labels, multi_label=not args.single_label, threshold=args.threshold, top_k=args.top_k,
            prompt=args.prompt, batch_size=args.batch_size, show_progress=False,
        )

    return classify


def _progress_bar(args: argparse.Namespace, total: int | None) -> Any:
    """tqdm on stderr, with an ETA when the number of texts is known; on by default only on a terminal."""
    from tqdm.auto import tqdm

    show = args.progress
    if show is None:  # not when a table is being drawn on the same terminal: the rows show progress already
        on_screen = args.output is None and sys.stdout.isatty()
        show = sys.stderr.isatty() and not on_screen and (total is None or total > args.chunk_size)
    return tqdm(total=total, unit="text", desc="uniclass", file=sys.stderr, disable=not show, dynamic_ncols=True)


class _sigterm_as_interrupt:
    """Turn SIGTERM into KeyboardInterrupt while classifying, so output files are closed cleanly on `kill`."""

    def __enter__(self) -> None:
        import signal
        import threading

        self.active = threading.current_thread() is threading.main_thread()  # signals only work there
        if self.active:
            self.previous = signal.signal(signal.SIGTERM, self._raise)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.active:
            signal.signal(signal.SIGTERM, self.previous if self.previous is not None else signal.SIG_DFL)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt


# ====================================================================== serve
def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    from .serve.limits import Limits

    defaults = Limits()
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP (POST /v1/classify, a demo page at /)",
        description="HTTP service: POST /v1/classify (concurrent requests are micro-batched), GET /healthz, "
        "GET /metrics (Prometheus), /docs and /openapi.json, and a small demo page at /. Needs the serve extra: "
        "pip install 'uniclass[serve]'.",
    )
    serve.add_argument("--model", default=None, help="GLiClass checkpoint folder or hub id (default: the bundled model)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 exposes it)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None,
                       help="require 'Authorization: Bearer KEY' or 'X-API-Key: KEY' on /v1/* (default: $UNICLASS_API_KEY)")
    serve.add_argument("--max-batch-texts", type=int, default=defaults.max_batch_texts, help="texts merged into one model call")
    serve.add_argument("--max-wait-ms", type=float, default=defaults.max_wait_ms, help="how long a batch waits for more requests")
    serve.add_argument("--max-texts", type=int, default=defaults.max_texts, help="texts per request")
    serve.add_argument("--max-labels", type=int, default=defaults.max_labels, help="labels per text")
    serve.add_argument("--max-chars", type=int, default=defaults.max_chars, help="characters per text")
    serve.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="request body size")
    serve.add_argument("--max-queue-texts", type=int, default=defaults.max_queue_texts,
                       help="texts waiting for the model before new requests get 503")
    serve.add_argument("--batch-size", type=int, default=32, help="model batch size inside one call")
    serve.add_argument("--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)")
    serve.add_argument("--device", default="auto")
    serve.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads for the model (default: torch's choice); fewer than the cores leaves room "
                       "for the HTTP side and other processes, and avoids latency spikes on a busy machine")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    _add_backend_options(serve)


def _add_backend_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--backend", choices=["torch", "onnx"], default=None,
                        help="onnx: run a folder written by `uniclass export onnx` on ONNX Runtime (no torch needed)")
    parser.add_argument("--quantized", action="store_true", help="with --backend onnx: the int8 graphs")


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.quantized and args.backend != "onnx":
        raise ValueError("--quantized needs --backend onnx")
    return {"backend": args.backend, "quantized": True} if args.quantized else {"backend": args.backend}


def _serve(args: argparse.Namespace) -> int:
    import os

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise ImportError(f"uniclass serve needs fastapi and uvicorn: pip install 'uniclass[serve]' ({err})") from err
    from .serve.app import create_app
    from .serve.limits import Limits

    limits = Limits(
        max_texts=args.max_texts, max_labels=args.max_labels, max_chars=args.max_chars, max_body_bytes=args.max_body_bytes,
        max_batch_texts=args.max_batch_texts, max_wait_ms=args.max_wait_ms, max_queue_texts=args.max_queue_texts,
    )
    load_options = _backend_options(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        load_options["num_threads"] = args.threads  # torch.set_num_threads, or the ONNX session's threads
    app = create_app(
        args.model, limits=limits, api_key=args.api_key or os.environ.get("UNICLASS_API_KEY") or None,
        device=args.device, max_length=args.max_length, batch_size=args.batch_size, load_options=load_options,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not raise BrokenPipeError again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "classify":
            return _classify(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _evaluate(args)
        if args.command == "bench":
            from .bench.cli import run_bench

            return run_bench(args)
        if args.command == "export":
            from .exporters.cli import run_export

            return run_export(args)
    except BrokenPipeError:  # `uniclass classify ... | head`: the reader has all it wants
        _silence_stdout()
        return 141
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as err:
        print(f"uniclass: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("uniclass: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
