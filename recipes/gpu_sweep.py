"""One prepared GPU run for the default model: several training recipes side by side, the best one exported.

Why: on 2 CPU cores one recipe trains ~600 steps an hour, too few to compare recipes. On one lent GPU
(15 minutes in all) this script trains every recipe of ``CONFIGS`` at once, one process each, for a fixed
wall-clock budget; each run evaluates itself on a *selection* subset of the development sets (texts
disjoint from the 500-text subsets that ``benchmarks/compare_dev.py`` reports on), keeps its best state,
and the best run by selection mean macro-F1 is exported as fp16 to ``--out`` (a tar split in <16 MB parts).

Steps (the GPU machine has no network; everything it needs travels with the repository)::

    python recipes/gpu_sweep.py prepare --data .devrun/data --backbone .devrun/backbone   # here, on CPU
    python recipes/gpu_sweep.py run --data .devrun/data --backbone .devrun/backbone --out OUT --budget 350
    python recipes/gpu_sweep.py unpack --parts OUT --to src/uniclass/models/uniclass-minilm  # here again
    python recipes/gpu_sweep.py replay --data .devrun/data --backbone .devrun/backbone --out OUT  # optional

``prepare`` writes the recipe components (seeded samples of the training corpora, including WordNet
converted with more negatives) and the dev subsets, xz-compressed, and the backbone in fp16 (the 90 MB fp32
file does not fit the 64 MB the GPU machine receives; the run casts it back to fp32 before training).
``replay`` retrains the shipped recipe through ``recipes/train_default.py`` and scores it the same way.

How the shipped model was made (2026-11-27, one H200, 15 minutes of device time in all): ``.devrun/`` is
listed in ``.git/info/exclude`` and was carried to the machine (55 MB); the bundled model file, which is
tracked and would travel too, was truncated for the duration of the call (and restored with
``git checkout``) so the upload stayed under 64 MB. The machine's own Python ran the scripts with
``PYTHONPATH=src`` (torch 2.11, transformers 5.17: nothing was installed there). ``run`` took 353 s and
``replay`` 119 s.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from uniclass_lab.corpora import DEV_SETS
from uniclass_lab.mixtures import MIXTURES, SEED, build_components, mix
from uniclass_lab.recipe_steps.default import (  # the recipe's model and schedule: one definition for both
    BACKBONE_FILES,
    MODEL_OPTIONS,
    RECIPE_MIXTURE,
    SCHEDULE_SWITCH,
    TRAINER_OPTIONS,
    backbone_path,
    export_fp16,
    fp16_rounded_backbone,
    set_schedule,
    train,
    trainer_arguments,
)

REPORT_LIMIT = 500  # compare_dev.py's subset: load_eval_data(name, 500, seed=0)
SELECT_LIMIT = 300  # per dev set, drawn from the texts outside the report subset
# Every run starts from v1's trainer settings (encoder LR 3e-5, head LR 5e-4) and changes what it names.
SWEEP_BASE: dict[str, Any] = dict(TRAINER_OPTIONS, learning_rate=3e-5, head_learning_rate=5e-4)

# name -> (mixture of uniclass_lab.mixtures.MIXTURES, overrides of SWEEP_BASE). c5 is the shipped recipe.
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "c0_shipped": ("shipped", {"negatives_per_item": 2}),
    "c1_shipped_topics": ("shipped_topics", {"negatives_per_item": 2}),
    "c2_hard": ("hard", {}),
    "c3_hard_topics": ("hard_topics", {}),
    "c4_hard_topics_lr1e-5": ("hard_topics", {"learning_rate": 1e-5, "head_learning_rate": 2e-4}),
    "c5_hard_topics_lr6e-5": ("hard_topics", {"learning_rate": 6e-5, "head_learning_rate": 1e-3}),
    "c6_hard_topics_nosnli": ("hard_topics_nosnli", {}),
    "c7_hard_topics_b64": ("hard_topics", {"per_device_train_batch_size": 64, "learning_rate": 5e-5}),
}


# ---------------------------------------------------------------------------------------------- prepare
def _write_xz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(path, "wt", encoding="utf-8", preset=9) as f:
        f.write("\n".join(lines) + "\n")


def _read_xz(path: Path) -> list[str]:
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def dev_subsets() -> dict[str, list[str]]:
    """``report_<set>``: compare_dev's seeded 500 texts; ``select_<set>``: 300 others for model selection."""
    import numpy as np

    from uniclass_lab.corpora import fetch

    out = {}
    for name in DEV_SETS:
        lines = [line for line in fetch(name).read_text(encoding="utf-8").splitlines() if line.strip()]
        report = sorted(np.random.default_rng(0).choice(len(lines), size=REPORT_LIMIT, replace=False).tolist())
        rest = sorted(set(range(len(lines))) - set(report))
        select = sorted(random.Random(SEED).sample(rest, SELECT_LIMIT))
        out[f"report_{name}"] = [lines[i] for i in report]
        out[f"select_{name}"] = [lines[i] for i in select]
    return out


def prepare(data: Path, backbone_out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    for name, lines in {**build_components(), **dev_subsets()}.items():
        _write_xz(data / f"{name}.jsonl.xz", lines)
        print(f"{name}: {len(lines)} items", flush=True)
    source = backbone_path()
    backbone_out.mkdir(parents=True, exist_ok=True)
    for name in BACKBONE_FILES:
        (backbone_out / name).write_bytes((source / name).read_bytes())
    weights = {k: v.to(torch.float16).contiguous() for k, v in load_file(source / "model.safetensors").items()}
    save_file(weights, backbone_out / "model.safetensors", metadata={"format": "pt"})


def build_mixture(data: Path, mixture: str, path: Path) -> Path:
    """``uniclass_lab.mixtures.mix`` of the prepared components: the file the recipe builds from the corpora."""
    return mix({component: _read_xz(data / f"{component}.jsonl.xz") for component, _ in MIXTURES[mixture]}, mixture, path)


# ---------------------------------------------------------------------------------------------- worker
def _eval_limit() -> int | None:
    """``SWEEP_EVAL_LIMIT``: score only the first N texts of each dev subset (smoke tests on a CPU)."""
    return int(os.environ["SWEEP_EVAL_LIMIT"]) if os.environ.get("SWEEP_EVAL_LIMIT") else None


def _dev_examples(data: Path, kind: str, limit: int | None = None) -> dict[str, list[Any]]:
    from uniclass.data.formats import load_examples

    return {name: load_examples([json.loads(line) for line in _read_xz(data / f"{kind}_{name}.jsonl.xz")[:limit]])
            for name in DEV_SETS}


def fp32_backbone(backbone: Path, target: Path) -> Path:
    """The fp16-travelled backbone cast back to fp32 on disk, so every run starts exactly as from an fp32
    folder (transformers would otherwise load it in fp16 and save that dtype into the model's config).
    The same weights as ``fp16_rounded_backbone`` (fp16 -> fp32 is exact)."""
    return fp16_rounded_backbone(target, source=backbone)


def _evaluate(clf: Any, sets: dict[str, list[Any]]) -> dict[str, float]:
    import torch

    from uniclass.evaluation.runner import evaluate

    was_training = clf.model.training
    clf.model.eval()
    with torch.no_grad():
        scores = {name: evaluate(clf, examples, batch_size=64)["macro_f1"] for name, examples in sets.items()}
    clf.model.train(was_training)
    scores["mean"] = sum(scores[name] for name in DEV_SETS) / len(DEV_SETS)
    return scores


def _budget_callback(clf: Any, select: dict[str, list[Any]], run_dir: Path, deadline: float, eval_every: int) -> Any:
    """Stops at the deadline, rescales the linear schedule to the steps the measured speed allows, evaluates
    every ``eval_every`` steps and keeps the best state (by selection mean macro-F1) in ``run_dir/best``.

    The fit happens at step ``SCHEDULE_SWITCH`` (100); the schedule from then on is
    ``lr_multiplier`` of the recipe, so the winner's run can be replayed with a fixed number of steps."""
    import transformers

    class Budget(transformers.TrainerCallback):
        def __init__(self) -> None:
            self.curve: list[dict[str, Any]] = []
            self.best = -1.0
            self.target: int | None = None
            self.start = time.time()

        def _record(self, step: int) -> None:
            scores = _evaluate(clf, select)
            self.curve.append({"step": step, "elapsed_s": round(time.time() - self.start, 1), **scores})
            print(json.dumps({"run": run_dir.name, **self.curve[-1]}), flush=True)
            if scores["mean"] > self.best:
                self.best = scores["mean"]
                clf.save_pretrained(run_dir / "best")
                (run_dir / "best" / "step.json").write_text(json.dumps(self.curve[-1]))
            (run_dir / "curve.json").write_text(json.dumps(self.curve, indent=1))

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            step = state.global_step
            if step == 1:
                self.first_step = time.time()  # the speed is measured from here: start-up and step 0 excluded
            if step == SCHEDULE_SWITCH and self.target is None:
                # steps the remaining time allows at the speed measured so far, minus time for evaluations
                rate = (step - 1) / max(time.time() - self.first_step, 1e-6)
                remaining = deadline - time.time()
                self.target = min(state.max_steps, step + int(rate * remaining * 0.85))
                set_schedule(kwargs["lr_scheduler"], self.target)
                print(json.dumps({"run": run_dir.name, "steps_per_s": round(rate, 2), "target_steps": self.target}), flush=True)
            stop = (self.target is not None and step >= self.target) or time.time() >= deadline
            if step % eval_every == 0 or stop:
                self._record(step)
            if stop:
                control.should_training_stop = True
            return control

    return Budget()


def worker(name: str, data: Path, backbone: Path, out: Path, deadline: float, eval_every: int) -> None:
    import torch

    from uniclass import Classifier
    from uniclass.training import Trainer

    mixture, overrides = CONFIGS[name]
    run_dir = out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    train_file = build_mixture(data, mixture, run_dir / "mixture.jsonl")
    torch.manual_seed(SEED)
    clf = Classifier.from_backbone(backbone, **MODEL_OPTIONS)
    eval_limit = _eval_limit()
    select = _dev_examples(data, "select", eval_limit)
    # 20,000 steps is a ceiling: the budget callback fits the schedule to the time left and stops the run
    options = dict(SWEEP_BASE, logging_steps=200, save_strategy="no", dataloader_num_workers=1, **overrides)
    args = trainer_arguments(run_dir / "trainer", 20_000, **options)
    budget = _budget_callback(clf, select, run_dir, deadline, eval_every)
    if name == "c0_shipped":
        budget._record(0)  # the untrained model (identity projectors: MiniLM-style cosine in one pass)
    trainer = Trainer(clf, args, train_data=train_file, callbacks=[budget])
    trainer.train()
    try:  # the best state is already on disk: a failure here must not lose the run
        best = Classifier.from_pretrained(run_dir / "best", device=clf.model.device)
        report = _evaluate(best, _dev_examples(data, "report", eval_limit))
    except Exception as error:  # noqa: BLE001
        report = {"error": repr(error)}
    result = {"name": name, "mixture": mixture, "overrides": overrides, "options": options,
              "best": json.loads((run_dir / "best" / "step.json").read_text()), "report": report, "curve": budget.curve}
    (run_dir / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({"run": name, "report": report, "best_step": result["best"]["step"]}), flush=True)


# ---------------------------------------------------------------------------------------------- run
def run(data: Path, backbone: Path, out: Path, budget: float, configs: list[str], eval_every: int, work: Path) -> None:
    start = time.time()
    deadline = start + budget
    backbone = fp32_backbone(backbone, work / "backbone-fp32")
    procs = {}
    for name in configs:
        log = open(work / f"{name}.log", "w")  # noqa: SIM115
        cmd = [sys.executable, __file__, "worker", name, "--data", str(data), "--backbone", str(backbone),
               "--work", str(work), "--deadline", str(deadline), "--eval-every", str(eval_every)]
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}), log)
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline + 120 - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    summary = _summarise(work, configs)
    summary["wall_s"] = round(time.time() - start, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1), flush=True)
    with lzma.open(out / "logs.tar.xz", "w") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        for name in configs:
            tar.add(work / f"{name}.log", arcname=f"{name}.log")
    if summary.get("winner"):
        try:
            export_parts(work / summary["winner"] / "best", out, work / "export")
        except Exception:  # noqa: BLE001
            import traceback

            traceback.print_exc()


def _summarise(work: Path, configs: list[str]) -> dict[str, Any]:
    runs = {}
    for name in configs:
        path = work / name / "result.json"
        if path.is_file():
            runs[name] = json.loads(path.read_text())
        elif (work / name / "curve.json").is_file():  # killed before its report: its curve still counts
            runs[name] = {"name": name, "curve": json.loads((work / name / "curve.json").read_text()), "unfinished": True}
    table = {name: {"select_best": max((c["mean"] for c in r["curve"]), default=None),
                    "report": r.get("report"), "best_step": r.get("best", {}).get("step")} for name, r in runs.items()}
    finished = {n: t for n, t in table.items() if t["select_best"] is not None and (work / n / "best" / "step.json").is_file()}
    winner = max(finished, key=lambda n: finished[n]["select_best"]) if finished else None
    return {"table": table, "winner": winner, "runs": runs}


def export_parts(best: Path, out: Path, export: Path, part_bytes: int = 15_000_000) -> None:
    """The winner as fp16 in the official layout, tarred and cut into parts the device tool can return."""
    export_fp16(best, export, json.loads((best / "step.json").read_text()))
    blob = export.with_suffix(".tar")
    with tarfile.open(blob, "w") as tar:
        for path in sorted(export.iterdir()):
            tar.add(path, arcname=path.name)
    data = blob.read_bytes()
    for i in range(0, len(data), part_bytes):
        (out / f"model.tar.part{i // part_bytes}").write_bytes(data[i:i + part_bytes])


def replay(data: Path, backbone: Path, out: Path, work: Path, max_steps: int) -> None:
    """Retrain the shipped recipe with ``recipes/train_default.py`` (a fixed step count, checkpoints, no sweep)
    from the travelled components, and score its last checkpoint on the report and selection subsets: does
    the recipe script give the model the sweep gave?"""
    import torch

    from uniclass import Classifier

    start = time.time()
    build_mixture(data, RECIPE_MIXTURE, work / "mixture.jsonl")  # what train() would build from the corpora
    fp32_backbone(backbone, work / "backbone-fp16-rounded")
    train(work, max_steps)
    last = max(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    clf = Classifier.from_pretrained(last, device="cuda" if torch.cuda.is_available() else "cpu")
    limit = _eval_limit()
    result = {"checkpoint": last.name, "wall_s": round(time.time() - start, 1),
              "report": _evaluate(clf, _dev_examples(data, "report", limit)),
              "select": _evaluate(clf, _dev_examples(data, "select", limit))}
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)


def unpack(parts: Path, target: Path) -> None:
    import io

    blob = b"".join(p.read_bytes() for p in sorted(parts.glob("model.tar.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1])))
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(target, filter="data")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--backbone", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--backbone", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--work", type=Path, default=Path("/tmp/uniclass-sweep"))
    r.add_argument("--budget", type=float, default=330.0, help="training wall-clock seconds")
    r.add_argument("--configs", default=",".join(CONFIGS))
    r.add_argument("--eval-every", type=int, default=500)
    w = sub.add_parser("worker")
    w.add_argument("name")
    w.add_argument("--data", type=Path, required=True)
    w.add_argument("--backbone", type=Path, required=True)
    w.add_argument("--work", type=Path, required=True)
    w.add_argument("--deadline", type=float, required=True)
    w.add_argument("--eval-every", type=int, default=500)
    rp = sub.add_parser("replay")
    rp.add_argument("--data", type=Path, required=True)
    rp.add_argument("--backbone", type=Path, required=True)
    rp.add_argument("--out", type=Path, required=True)
    rp.add_argument("--work", type=Path, default=Path("/tmp/uniclass-replay"))
    rp.add_argument("--max-steps", type=int, default=4280)
    u = sub.add_parser("unpack")
    u.add_argument("--parts", type=Path, required=True)
    u.add_argument("--to", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.data, args.backbone)
    elif args.cmd == "run":
        args.work.mkdir(parents=True, exist_ok=True)
        run(args.data, args.backbone, args.out, args.budget, args.configs.split(","), args.eval_every, args.work)
    elif args.cmd == "replay":
        replay(args.data, args.backbone, args.out, args.work, args.max_steps)
    elif args.cmd == "worker":
        worker(args.name, args.data, args.backbone, args.work, args.deadline, args.eval_every)
    else:
        unpack(args.parts, args.to)


if __name__ == "__main__":
    main()
