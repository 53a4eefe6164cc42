"""Issue 7 measurement: RL vs continued supervised training, and post-training with vs without EWC.

Every arm starts from ONE supervised checkpoint (``--start``, default the bundled ``uniclass-minilm``):

1. Mid-training, same data and budget: a seeded sample of ``--steps x --batch-size`` items of the training
   mixture of ``recipes/train_v1.py`` (``uniclass_lab.mixtures.build_v1_mixture``: SNLI, VADER x2, 40k WordNet glosses; never a dev
   set) is written to ``WORK/general_<items>_seed<seed>.jsonl``; both arms see each of these items once, in a
   seeded order (about 12% of them are among the 9,600 items the shipped model was trained on).

   * ``supervised``: ``Trainer`` for ``--steps`` steps, the shipped recipe's settings (plain BCE, encoder LR
     3e-5, head LR 5e-4, 5% warm-up, linear decay, 2 sampled negatives, label shuffling, max_length 256).
   * ``rl``: ``RLTrainer`` (PPO over per-label Bernoulli decisions) for ``--steps`` rollouts of the same
     batch size: reward per-text F1, batch-mean baseline, clip 0.2, 3 optimiser steps per rollout, exact
     KL to the start model with ``--rl-kl`` (0.05), no entropy bonus, encoder LR ``--rl-lr`` (1e-5), head LR
     ``--rl-head-lr`` (1e-4), 5% warm-up, linear decay; same negatives, shuffling and max_length. RL takes
     3 optimiser steps per batch and its target is its own sampled decisions, hence lower learning rates
     and a KL anchor (encoder LR and KL as in the recipe example of ``training/stages.py``).

2. Post-training on one narrow task (FOLDOC, 15 computing domains): ``--k-per-label`` texts per label, drawn
   (seeded) from FOLDOC texts that are NOT in its evaluation subset; LoRA (r=8, alpha=16, all linear layers of
   the encoder, head fully trained, merged at the end) for ``--post-epochs`` epochs, batch 8, LR
   ``--post-lr`` (head 3x), no warm-up, linear decay, loss ``--post-loss``: by default the single-label
   softmax cross-entropy, i.e. exactly the few-shot fine-tune of ``benchmarks/few_shot.py`` /
   ``Classifier.fit`` (RESULTS.md §3: FOLDOC 0.35 -> 0.63 with 8 per label), so the gain is comparable to a
   known number. ``Trainer`` measures the EWC Fisher with the stage's own loss, so with ``softmax`` it is the
   Fisher of the softmax objective on the general mixture (``--post-loss focal``: plain BCE, the loss the
   start model was trained with, for both).

   * ``post_plain``: no regulariser.
   * ``post_ewc``: ``ewc_lambda=--ewc-lambda`` with ``previous_data`` = the general sample above (Fisher
     from ``--ewc-samples`` of its texts, at the start weights). Its folder is ``post_ewc_lambda<L>``, so
     re-running with another ``--ewc-lambda`` trains only this arm.

   For both, ``ewc_distance`` = ``1/2 sum F (theta - theta_start)^2`` (the EWC penalty at lambda=1, same
   Fisher) tells how far each moved in the directions that mattered for the general data.

Evaluation (start model and every arm, the same texts): a seeded ``--limit`` subset of each dev set
(``load_eval_data(name, limit, seed=--eval-seed)``, the subsets of ``benchmarks/compare_dev.py`` at the
same limit), one forward pass per set at max_length 256, raw logits (no calibration.json applied):

* macro-F1 and accuracy, the paper's single-label protocol (argmax over the set's labels), per set and mean;
* ECE (15 equal-width bins, ``uniclass.evaluation.metrics.expected_calibration_error``) of two scores, both
  over every (text, label) pair against the one-hot truth:
  ``ece_sigmoid``, the per-label sigmoid scores (what BCE and the RL policy model; what multi-label
  ``classify`` thresholds), the headline calibration number; and ``ece_softmax``, the softmax over the
  set's labels (what single-label ``classify`` reports).

Resumable: each arm trains into ``WORK/<arm>/`` through ``uniclass.training.stages.run_stage`` (checkpoints,
resume from the latest one, ``final`` written atomically); an arm whose ``final`` exists is not retrained,
and a finished arm whose recorded settings differ from this run's stops the script (use another ``--work``).
Evaluations are cached in ``WORK/<arm>/eval.json`` for the same evaluation settings. A resumed RL arm is
bit-identical to an uninterrupted one; a resumed supervised arm is not (``Trainer`` restarts the label
augmentation's RNG from the seed on resume, so later batches get other negatives and orders; the table marks
such arms "(resumed)"). The short post-training arms keep no checkpoints and restart if interrupted.

Usage (from the repository root)::

    python benchmarks/stages_study.py                      # full study, defaults below
    python benchmarks/stages_study.py --quick              # smoke test: a few steps, tiny subsets

Writes ``benchmarks/results/stages_study.json`` and ``.md`` (``stages_study_quick.*`` with ``--quick``) and
prints the markdown tables.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uniclass_lab.bench.common import repo_relative_paths
from uniclass_lab.corpora import DEV_SETS

ROOT = Path(__file__).resolve().parent.parent
NARROW = "foldoc"
MAX_LENGTH = 256
N_BINS = 15
QUICK = {"steps": 4, "batch_size": 4, "limit": 20, "k_per_label": 2, "post_epochs": 1, "ewc_samples": 8}


# ====================================================================== options
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", default=None, help="supervised GLiClass checkpoint (default: bundled uniclass-minilm)")
    p.add_argument("--work", type=Path, default=None, help="arm folders (default runs/stages, runs/stages/quick)")
    p.add_argument("--steps", type=int, default=300, help="batches of the supervised and the RL arm")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=500, help="seeded evaluation subset per dev set")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluation subsets (0: compare_dev's)")
    p.add_argument("--seed", type=int, default=0, help="training seed: data sample, order, LoRA init, sampling")
    p.add_argument("--rl-lr", type=float, default=1e-5)
    p.add_argument("--rl-head-lr", type=float, default=1e-4)
    p.add_argument("--rl-kl", type=float, default=0.05)
    p.add_argument("--k-per-label", type=int, default=8, help="FOLDOC training texts per label (post-training)")
    p.add_argument("--post-epochs", type=float, default=5)
    p.add_argument("--post-lr", type=float, default=5e-4)
    p.add_argument("--post-loss", choices=("focal", "softmax"), default="softmax")
    p.add_argument("--ewc-lambda", type=float, default=1000.0)
    p.add_argument("--ewc-samples", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--quick", action="store_true",
                   help="smoke test, defaults " + ", ".join(f"{k}={v}" for k, v in QUICK.items()) + ", --work runs/stages/quick")
    p.add_argument("--out", type=Path, default=None, help="results .json (default benchmarks/results/stages_study.json)")
    quick = p.parse_known_args(argv)[0].quick
    if quick:
        p.set_defaults(**QUICK)  # smaller defaults; options given explicitly still win
    args = p.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    args.work = args.work or Path("runs/stages/quick" if args.quick else "runs/stages")
    args.out = args.out or ROOT / "benchmarks" / "results" / f"stages_study{suffix}.json"
    if args.start is None:
        from uniclass.classifier import DEFAULT_MODEL_DIR

        args.start = str(DEFAULT_MODEL_DIR)
    return args


def device_flags() -> dict[str, Any]:
    """Train on CUDA when there is one (the trainers pick it), else on CPU."""
    return {"use_cpu": not torch.cuda.is_available()}


# ====================================================================== data
def _write_lines(path: Path, lines: Sequence[str]) -> Path:
    """Atomic write: an interrupted run never leaves a short file that a re-run would take as complete."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line.rstrip("\n") + "\n" for line in lines), encoding="utf-8")
    tmp.rename(path)
    return path


def general_sample(work: Path, size: int, seed: int) -> Path:
    """``size`` items of the default model's training mixture, seeded: the data of both mid-training arms."""
    from uniclass_lab.mixtures import build_v1_mixture

    path = work / f"general_{size}_seed{seed}.jsonl"
    if path.is_file():
        return path
    lines = build_v1_mixture(work / "mixture.jsonl").read_text(encoding="utf-8").splitlines()
    return _write_lines(path, random.Random(seed).sample(lines, size))


def dev_subsets(limit: int, seed: int) -> dict[str, list[Any]]:
    """The evaluation texts: the same seeded subset of each dev set for every model."""
    from uniclass_lab.eval_data import load_eval_data

    return {name: load_eval_data(name, limit, seed=seed) for name in DEV_SETS}


def narrow_train_split(work: Path, held_out: Sequence[Any], k: int, seed: int) -> Path:
    """K FOLDOC texts per label, never a text of the evaluation subset (nor a duplicate of one)."""
    from uniclass_lab.eval_data import load_eval_data

    path = work / f"{NARROW}_train_k{k}_seed{seed}_{_digest(held_out)}.jsonl"
    if path.is_file():
        return path
    excluded = {e.text for e in held_out}
    by_label: dict[str, list[Any]] = {}
    for example in load_eval_data(NARROW):
        if example.text not in excluded:
            by_label.setdefault(example.true_labels[0], []).append(example)
    rng = random.Random(seed)
    chosen = [e for label in sorted(by_label) for e in rng.sample(by_label[label], min(k, len(by_label[label])))]
    rng.shuffle(chosen)
    items = [json.dumps({"text": e.text, "all_labels": list(e.all_labels), "true_labels": e.true_labels}) for e in chosen]
    return _write_lines(path, items)


def _digest(examples: Sequence[Any]) -> str:
    """Short fingerprint of an evaluation subset, so a training split is tied to the subset it avoids."""
    import hashlib

    return hashlib.sha256("\n".join(e.text for e in examples).encode()).hexdigest()[:8]


# ====================================================================== arms (uniclass.training stages)
def supervised_stage(args: argparse.Namespace, train: Path) -> dict[str, Any]:
    """Continued supervised training with the shipped recipe's settings (recipes/train_v1.py)."""
    return {"name": "supervised", "kind": "supervised", "train": str(train), "args": {
        "max_steps": args.steps, "per_device_train_batch_size": args.batch_size, "learning_rate": 3e-5,
        "head_learning_rate": 5e-4, "warmup_steps": 0.05, "lr_scheduler_type": "linear", "weight_decay": 0.01,
        **_common(args), **_checkpointing(args), "negatives_per_item": 2, "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }}


def rl_stage(args: argparse.Namespace, train: Path) -> dict[str, Any]:
    """PPO with the F1 reward on the same items, batch size and seed as the supervised arm."""
    return {"name": "rl", "kind": "rl", "train": str(train), "args": {
        "max_steps": args.steps, "per_device_train_batch_size": args.batch_size, "learning_rate": args.rl_lr,
        "head_learning_rate": args.rl_head_lr, "warmup_steps": 0.05, "lr_scheduler_type": "linear",
        "weight_decay": 0.01, **_common(args), **_checkpointing(args), "negatives_per_item": 2,
        "reward_components": {"f1": 1.0},
        "baseline": "mean", "clip_epsilon": 0.2, "num_rl_iters": 3, "kl_coef": args.rl_kl, "kl_estimator": "exact",
        "entropy_coef": 0.0,
    }}


def post_stage(args: argparse.Namespace, train: Path, general: Path, ewc: bool) -> dict[str, Any]:
    """LoRA post-training on the narrow task; with ``ewc`` anchored on the general mixture."""
    name = f"post_ewc_lambda{args.ewc_lambda:g}" if ewc else "post_plain"  # another lambda: only this arm reruns
    stage: dict[str, Any] = {"name": name, "kind": "supervised", "train": str(train),
                             "lora": True, "args": {
        "num_train_epochs": args.post_epochs, "per_device_train_batch_size": 8, "learning_rate": args.post_lr,
        "loss": args.post_loss, "lora_r": 8, "lora_alpha": 16, "lr_scheduler_type": "linear",
        **_common(args), "save_strategy": "no", "dataloader_num_workers": 0, "disable_tqdm": True,
    }}
    if ewc:
        stage["ewc_previous"] = str(general)
        stage["args"].update(ewc_lambda=args.ewc_lambda, ewc_samples=args.ewc_samples)
    return stage


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {"max_length": MAX_LENGTH, "shuffle_labels": True, "seed": args.seed,
            "logging_steps": max(1, min(10, args.steps // 10)), **device_flags()}


def _checkpointing(args: argparse.Namespace) -> dict[str, Any]:
    """About four checkpoints per mid-training arm (at most 100 steps apart): a killed session loses little."""
    return {"save_steps": min(100, max(1, args.steps // 4)), "save_total_limit": 1}


def run_arm(stage: Mapping[str, Any], start: str, work: Path) -> dict[str, Any]:
    """Train one arm from ``start`` (or resume it, or skip it when finished); returns its summary + timing."""
    from uniclass.training.stages import STAGE_FILE, is_finished, run_stage

    folder = work / stage["name"]
    timing_file = folder / "timing.json"
    if is_finished(folder):
        summary = json.loads((folder / STAGE_FILE).read_text(encoding="utf-8"))
        timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        return {**summary, **timing, "log": training_log(folder), "skipped": True}
    print(f"[stages_study] training {stage['name']} into {folder}", flush=True)
    began: list[float] = []
    summary = run_stage(stage, {"model": start}, folder, on_stage_start=lambda *_: began.append(time.perf_counter()))
    timing = {"train_seconds": time.perf_counter() - began[0]}  # from the loaded start model to the saved final
    if summary["resumed_from"]:
        timing["note"] = f"resumed from {summary['resumed_from']}: train_seconds covers the last part only"
    timing_file.write_text(json.dumps(timing))
    return {**summary, **timing, "log": training_log(folder), "skipped": False}


def training_log(folder: Path) -> list[dict[str, Any]]:
    """The logged losses / rewards of an arm, from its latest checkpoint (empty if it kept none)."""
    found = sorted((c for c in folder.glob("checkpoint-*") if c.name.split("-")[-1].isdigit()),
                   key=lambda c: int(c.name.split("-")[-1]))
    for name in ("rl_log.json", "trainer_state.json"):
        if found and (found[-1] / name).is_file():
            return json.loads((found[-1] / name).read_text())["log_history"]
    return []


def check_finished(stage: Mapping[str, Any], start: str, work: Path) -> None:
    """A finished arm is reused only if it was trained with exactly these settings from this start."""
    from uniclass.training.stages import STAGE_FILE, is_finished

    folder = work / stage["name"]
    if not is_finished(folder):
        return
    summary = json.loads((folder / STAGE_FILE).read_text(encoding="utf-8"))
    recorded = summary.get("stage")
    if recorded != json.loads(json.dumps(dict(stage))) or summary.get("start") != start:
        raise SystemExit(f"{summary.get('final')}: finished with other settings or start model than this run; "
                         "delete its folder or use another --work")


# ====================================================================== evaluation
def evaluate_model(path: str, sets: Mapping[str, Sequence[Any]], batch_size: int) -> dict[str, Any]:
    """Macro-F1 (single-label argmax) and ECE of sigmoid and softmax scores, from one forward pass per set."""
    from uniclass import Classifier

    clf = Classifier.from_pretrained(path, device="cuda" if torch.cuda.is_available() else "cpu", max_length=MAX_LENGTH)
    report: dict[str, Any] = {}
    for name, examples in sets.items():
        began = time.perf_counter()
        predictions = clf.predict([e.text for e in examples], [list(e.all_labels) for e in examples],
                                  multi_label=False, prompt=[e.prompt for e in examples], batch_size=batch_size)
        logits = [np.asarray(p.logits, dtype=np.float64) for p in predictions]
        report[name] = {**set_metrics(examples, logits), "seconds": time.perf_counter() - began}
    keys = ("macro_f1", "accuracy", "ece_sigmoid", "ece_softmax")
    report["mean"] = {key: float(np.mean([report[n][key] for n in sets])) for key in keys}
    return report


def set_metrics(examples: Sequence[Any], logits: Sequence[np.ndarray]) -> dict[str, float]:
    """The paper's single-label macro-F1, and ECE over every (text, label) pair against the one-hot truth."""
    from uniclass.evaluation.metrics import expected_calibration_error, single_label_report

    gold = [e.all_labels[int(np.argmax(e.targets))] for e in examples]
    predicted = [e.all_labels[int(np.argmax(z))] for e, z in zip(examples, logits, strict=True)]
    labels = sorted({label for e in examples for label in e.all_labels})
    f1 = single_label_report(gold, predicted, labels)
    truth = np.concatenate([np.arange(len(z)) == np.argmax(e.targets) for e, z in zip(examples, logits, strict=True)]).astype(float)
    sigmoid = np.concatenate([1 / (1 + np.exp(-z)) for z in logits])
    softmax = np.concatenate([np.exp(z - z.max()) / np.exp(z - z.max()).sum() for z in logits])
    return {"macro_f1": f1["macro_f1"], "accuracy": f1["accuracy"], "n": f1["n"],
            "ece_sigmoid": expected_calibration_error(sigmoid, truth, n_bins=N_BINS),
            "ece_softmax": expected_calibration_error(softmax, truth, n_bins=N_BINS)}


def cached_eval(path: str, cache: Path, sets: Mapping[str, Sequence[Any]], settings: Mapping[str, Any],
                batch_size: int) -> dict[str, Any]:
    """Evaluate once per (model, evaluation settings); re-runs read ``cache``."""
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("settings") == dict(settings) and stored.get("model") == path:
            return stored["report"]
    print(f"[stages_study] evaluating {path}", flush=True)
    report = evaluate_model(path, sets, batch_size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"model": path, "settings": dict(settings), "report": report}, indent=1))
    return report


def ewc_distances(start: str, general: Path, models: Mapping[str, str], args: argparse.Namespace, cache: Path) -> dict[str, float]:
    """``1/2 sum F (theta - theta_start)^2`` per model: the EWC penalty at lambda=1 with the arm's Fisher."""
    key = {"start": start, "general": str(general), "samples": args.ewc_samples, "seed": args.seed, "loss": args.post_loss,
           "models": dict(models)}
    if cache.is_file() and json.loads(cache.read_text()).get("key") == key:
        return json.loads(cache.read_text())["distances"]
    from uniclass import Classifier
    from uniclass.data.formats import load_examples
    from uniclass.training import EWCPenalty
    from uniclass.training.losses import FocalLoss, SoftmaxCrossEntropyLoss

    loss_fn = SoftmaxCrossEntropyLoss() if args.post_loss == "softmax" else FocalLoss(-1.0, 0.0)  # Trainer's choice
    penalty = EWCPenalty.from_data(Classifier.from_pretrained(start, device="cpu"), load_examples(general), lam=1.0,
                                   samples=args.ewc_samples, max_length=MAX_LENGTH, loss_fn=loss_fn, seed=args.seed)
    with torch.no_grad():
        distances = {name: float(penalty(Classifier.from_pretrained(path, device="cpu").model)) for name, path in models.items()}
    cache.write_text(json.dumps({"key": key, "distances": distances}, indent=1))
    return distances


# ====================================================================== report
def _d(value: float, base: float | None) -> str:
    """A value, and its change from the start model (``base=None`` on the start model's own row)."""
    return f"{value:.4f}" if base is None else f"{value:.4f} ({value - base:+.4f})"


def _seconds(arm: Mapping[str, Any]) -> str:
    """Training time of an arm; marked when a resumed run only timed its last part."""
    if arm.get("train_seconds") is None:
        return ""
    return f"{arm['train_seconds']:.0f}" + (" (resumed)" if arm.get("note") else "")


def markdown(result: Mapping[str, Any]) -> str:
    """Two tables: mid-training arms vs the start, and post-training arms with their forgetting."""
    ev, s = result["evaluation"], result["settings"]
    start = ev["start"]
    title = (f"### RL vs continued supervised training ({s['steps']} batches of {s['batch_size']}, seed {s['seed']}; "
             f"{s['limit']}-text dev subsets)")
    lines = [title, "",
             "| model | BBC News | Rotten Tomatoes | FOLDOC | mean macro-F1 | mean ECE (sigmoid) | mean ECE (softmax) | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("start", "supervised", "rl"):
        row, base = ev[name], name != "start"
        cells = [_d(row[d]["macro_f1"], start[d]["macro_f1"] if base else None) for d in DEV_SETS]
        cells += [_d(row["mean"][k], start["mean"][k] if base else None) for k in ("macro_f1", "ece_sigmoid", "ece_softmax")]
        cells.append(_seconds(result["arms"].get(name, {})))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    others = [d for d in DEV_SETS if d != NARROW]
    title = (f"### Post-training on {NARROW} ({s['k_per_label']} texts per label, LoRA, {s['post_epochs']} epochs; "
             f"EWC lambda {s['ewc_lambda']:g})")
    header = (f"| model | {NARROW} (narrow task) | " + " | ".join(others)
              + " | mean of the others | mean ECE (sigmoid) | EWC distance ½ΣF(Δθ)² | train s |")
    lines += ["", title, "", header, "|---|---|" + "---|" * len(others) + "---|---|---|---|"]
    for name in ("start", "post_plain", "post_ewc"):
        row, base = ev[name], name != "start"
        other_mean = float(np.mean([row[d]["macro_f1"] for d in others]))
        base_other = float(np.mean([start[d]["macro_f1"] for d in others]))
        cells = [_d(row[d]["macro_f1"], start[d]["macro_f1"] if base else None) for d in (NARROW, *others)]
        cells += [_d(other_mean, base_other if base else None),
                  _d(row["mean"]["ece_sigmoid"], start["mean"]["ece_sigmoid"] if base else None)]
        distance = result["ewc_distance"].get(name)
        cells += ["" if distance is None else f"{distance:.4g}", _seconds(result["arms"].get(name, {}))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *log_lines(result["arms"])]) + "\n"


def log_lines(arms: Mapping[str, Any]) -> list[str]:
    """First and last logged training signal of the mid-training arms (RL: mean F1 reward of sampled decisions)."""
    out = []
    for name, key in (("supervised", "loss"), ("rl", "reward")):
        log = [entry for entry in arms.get(name, {}).get("log", []) if key in entry]
        if len(log) >= 2:
            out.append(f"- {name}: {key} {log[0][key]:.4f} (step {log[0]['step']}) -> {log[-1][key]:.4f} (step {log[-1]['step']}), "
                       f"{len(log)} log points")
    return out


def run_arms(args: argparse.Namespace, general: Path, narrow: Path) -> dict[str, dict[str, Any]]:
    """Train (or reuse) the four arms; keyed by role, each arm's folder is its stage name under ``--work``."""
    stages = {"supervised": supervised_stage(args, general), "rl": rl_stage(args, general),
              "post_plain": post_stage(args, narrow, general, ewc=False),
              "post_ewc": post_stage(args, narrow, general, ewc=True)}
    for stage in stages.values():  # fail before any training if a finished arm was made with other settings
        check_finished(stage, args.start, args.work)
    return {role: run_arm(stage, args.start, args.work) for role, stage in stages.items()}


def settings(args: argparse.Namespace, general: Path, narrow: Path, eval_settings: Mapping[str, Any]) -> dict[str, Any]:
    """Every option and derived input of the run, for the JSON record."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()} | {
        "command": "python " + " ".join(sys.argv), "torch": torch.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu", "general_items": args.steps * args.batch_size,
        "general_data": str(general), "narrow_train": str(narrow), "narrow_train_items": sum(1 for _ in narrow.open()),
        "evaluation": dict(eval_settings),
        "ece": f"{N_BINS} equal-width bins over every (text, label) pair vs one-hot truth; sigmoid and softmax of raw logits",
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    general = general_sample(args.work, args.steps * args.batch_size, args.seed)
    sets = dev_subsets(args.limit, args.eval_seed)
    narrow = narrow_train_split(args.work, sets[NARROW], args.k_per_label, args.seed)
    arms = run_arms(args, general, narrow)
    eval_settings = {"limit": args.limit, "eval_seed": args.eval_seed, "max_length": MAX_LENGTH, "bins": N_BINS}
    models = {"start": args.start, **{role: arm["final"] for role, arm in arms.items()}}
    caches = {"start": args.work / "start_eval.json"} | {role: Path(arm["final"]).parent / "eval.json" for role, arm in arms.items()}
    evaluation = {role: cached_eval(models[role], caches[role], sets, eval_settings, args.eval_batch_size) for role in models}
    distances = ewc_distances(args.start, general, {n: models[n] for n in ("start", "post_plain", "post_ewc")}, args,
                              args.work / "ewc_distance.json")
    result = {"settings": settings(args, general, narrow, eval_settings), "arms": arms, "evaluation": evaluation,
              "ewc_distance": distances}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(repo_relative_paths(result), indent=2, default=str))  # no machine's paths
    table = markdown(result)
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
