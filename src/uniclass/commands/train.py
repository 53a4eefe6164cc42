"""``uniclass train``: train a GLiClass model from a backbone, fine-tune one, run RL or post-training, or run a
multi-stage recipe. The flags map to training arguments in one place (:func:`training_options`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..data.formats import Example


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a GLiClass model from a backbone, or fine-tune a GLiClass model",
        description="Train on JSON/JSONL items {text, all_labels, true_labels}; checkpoints resume with --resume. "
        "--stage rl runs PPO-style RL, --stage post LoRA post-training (with EWC via --ewc-previous); --recipe runs a "
        "multi-stage recipe (see uniclass.training.stages).",
    )
    start = train.add_mutually_exclusive_group(required=False)  # required unless --recipe (checked in run)
    start.add_argument("--backbone", help="pretrained encoder folder or hub id to start a new model from")
    start.add_argument(
        "--model", help="GLiClass checkpoint to fine-tune (default, without --backbone: the bundled model)"
    )
    train.add_argument("--train", default=None, help="training file (.json or .jsonl); required unless --recipe")
    train.add_argument("--eval", default=None, help="evaluation file, scored every --eval-steps")
    train.add_argument("--out", required=True, help="output folder (checkpoints and the final model in OUT/final)")
    train.add_argument("--architecture", default="uni-encoder", help="for --backbone: uni-encoder, bi-encoder, ...")
    train.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config option for --backbone, e.g. --option pooling_strategy=avg (JSON values)",
    )
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
    train.add_argument(
        "--recipe",
        default=None,
        metavar="FILE",
        help="multi-stage recipe (JSON): stages run in order into OUT/<stage>/; finished stages are skipped "
        "and an interrupted one resumes from its last checkpoint",
    )
    train.add_argument(
        "--stage",
        default=None,
        help="with --recipe: stop after this stage; without: pretrain (supervised, default), rl (PPO-style "
        "RL) or post (supervised with LoRA; EWC with --ewc-previous)",
    )
    train.add_argument("--ewc-previous", default=None, metavar="FILE", help="earlier training data to protect with EWC")
    train.add_argument("--ewc-lambda", type=float, default=0.0, help="EWC strength (needed with --ewc-previous)")
    train.add_argument("--ewc-samples", type=int, default=256, help="texts used to estimate the EWC Fisher")
    rl = train.add_argument_group("RL (--stage rl)")
    rl.add_argument("--clip-epsilon", type=float, default=0.2, help="PPO clip range")
    rl.add_argument("--rl-iters", type=int, default=3, help="optimiser steps per rollout")
    rl.add_argument("--kl-coef", type=float, default=0.0, help="KL penalty to the starting model (0: off)")
    rl.add_argument("--entropy-coef", type=float, default=0.0, help="entropy bonus (0: off)")
    rl.add_argument("--baseline", choices=["mean", "value_head"], default="mean")
    rl.add_argument(
        "--reward",
        action="append",
        default=[],
        metavar="NAME=WEIGHT",
        help="reward component f1, recall, accuracy or module:function, repeatable (default f1=1)",
    )
    rl.add_argument("--greedy-threshold", type=float, default=None, help="greedy actions p > T instead of sampling")


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}  # JSON values (or the raw string): config fields of any type
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def training_options(args: argparse.Namespace, out: Any) -> dict[str, Any]:
    """The training arguments both loops (supervised and RL) take from the same flags: the one mapping."""
    return dict(
        output_dir=str(out),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,
        lr_scheduler_type=args.scheduler,
        negatives_per_item=args.negatives,
        max_length=args.max_length,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        save_steps=args.save_steps,
        save_total_limit=3,
        logging_steps=args.logging_steps,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.formats import load_training_examples

    if args.recipe:
        return _train_recipe(args)
    stage = args.stage or "pretrain"
    if stage not in ("pretrain", "rl", "post"):
        raise ValueError(f"--stage must be pretrain, rl or post (or a stage name with --recipe), got {stage!r}")
    if not args.train:
        raise ValueError("uniclass train needs --train FILE (or a --recipe)")
    if args.ewc_previous and not args.ewc_lambda > 0:
        raise ValueError("--ewc-previous needs --ewc-lambda > 0")
    # The files are read before torch, transformers and the model load: a malformed line is reported at once.
    train_data = load_training_examples(args.train)
    eval_data = load_training_examples(args.eval) if args.eval else None
    previous_data = load_training_examples(args.ewc_previous) if args.ewc_previous else None
    from ..classifier import Classifier
    from ..training import Trainer, TrainingArguments

    if args.backbone:
        clf = Classifier.from_backbone(args.backbone, args.architecture, **_parse_options(args.option))
    else:  # no --model: fine-tune the bundled default model, as classify uses it
        clf = Classifier.from_pretrained(args.model)
    out = Path(args.out)
    if stage == "rl":
        return _train_rl(args, clf, out, train_data)
    training_args = TrainingArguments(
        **training_options(args, out),
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        loss=args.loss,
        focal_alpha=args.focal_alpha,
        focal_gamma=args.focal_gamma,
        label_smoothing=args.label_smoothing,
        use_lora=args.lora or stage == "post",
        eval_strategy="steps" if args.eval else "no",
        eval_steps=args.eval_steps,
        bf16=args.bf16,
        ewc_lambda=args.ewc_lambda,
        ewc_samples=args.ewc_samples,
    )
    trainer = Trainer(clf, training_args, train_data=train_data, eval_data=eval_data, previous_data=previous_data)
    resume = args.resume and any(out.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = clf.save_pretrained(out / "final")
    print(json.dumps({"model": str(final), "steps": trainer.state.global_step}))
    return 0


def _train_rl(args: argparse.Namespace, clf: Any, out: Any, train_data: list[Example]) -> int:
    """``--stage rl``: the RL trainer with the shared schedule flags; writes OUT/checkpoint-N and OUT/final."""
    from ..training import RLTrainer, RLTrainingArguments
    from ..training.rl import checkpoints

    unsupported = [
        flag
        for flag, used in (
            ("--eval", args.eval),
            ("--bf16", args.bf16),
            ("--grad-accum", args.grad_accum != 1),
            ("--ewc-previous", args.ewc_previous),
        )
        if used
    ]
    if unsupported:
        raise ValueError(f"--stage rl does not support {', '.join(unsupported)}")
    rewards = {}
    for pair in args.reward:
        name, sep, weight = pair.rpartition("=")
        if not sep or not name:
            raise ValueError(f"--reward expects NAME=WEIGHT, got {pair!r}")
        rewards[name] = (name, float(weight))
    rl_args = RLTrainingArguments(
        **training_options(args, out),
        use_lora=args.lora,
        clip_epsilon=args.clip_epsilon,
        num_rl_iters=args.rl_iters,
        kl_coef=args.kl_coef,
        entropy_coef=args.entropy_coef,
        baseline=args.baseline,
        reward_components=rewards or None,
        greedy_threshold=args.greedy_threshold,
    )
    trainer = RLTrainer(clf, rl_args, train_data=train_data)
    resume = args.resume and bool(checkpoints(out))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = clf.save_pretrained(out / "final")
    print(json.dumps({"model": str(final), "steps": trainer.state.global_step}))
    return 0


def _train_recipe(args: argparse.Namespace) -> int:
    """``--recipe``: every stage (or up to ``--stage``); one JSON line per stage, then the final model."""
    from ..training import run_stages

    if args.backbone or args.model or args.train:
        raise ValueError("--recipe names the starting model and the data itself: drop --backbone/--model/--train")
    summaries = run_stages(args.recipe, args.out, until=args.stage)
    for summary in summaries:
        print(
            json.dumps({key: summary.get(key) for key in ("name", "kind", "final", "steps", "skipped", "resumed_from")})
        )
    print(json.dumps({"model": summaries[-1]["final"], "stages": [s["name"] for s in summaries]}))
    return 0
