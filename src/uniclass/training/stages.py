"""Multi-stage training recipes: supervised pre-training, RL mid-training, LoRA post-training with EWC.

The paper trains in stages (as the official training recipe does): pre-training on general data, RL on a subset, then
LoRA post-training on a narrow stream. A recipe chains such stages so that each starts from the previous
one's final weights and a long pipeline survives interruptions.

Recipe (a dict, or a JSON file whose relative paths are relative to the file)::

    {
      "backbone": "path/to/encoder",              # a new model (or "model": a GLiClass checkpoint to continue)
      "architecture": "uni-encoder",              # for "backbone"
      "options": {"pooling_strategy": "avg", "prompt_first": true},   # config fields, for "backbone"
      "seed": 42,                                  # seeds the new head's initialisation
      "stages": [
        {"name": "pretrain", "kind": "supervised", "train": "general.jsonl", "eval": "dev.jsonl",
         "args": {"max_steps": 20000, "learning_rate": 3e-5, "per_device_train_batch_size": 16}},
        {"name": "rl", "kind": "rl", "train": "rl.jsonl",
         "args": {"max_steps": 2000, "learning_rate": 1e-5, "kl_coef": 0.05, "reward_components": {"f1": 1.0}}},
        {"name": "post", "kind": "supervised", "train": "logic.jsonl", "lora": true,
         "ewc_previous": "general.jsonl", "args": {"ewc_lambda": 100.0, "lora_r": 64, "lora_alpha": 128}}
      ]
    }

``args`` are :class:`TrainingArguments` fields for ``"supervised"`` stages and :class:`RLTrainingArguments`
fields for ``"rl"`` stages (``output_dir`` is set by the recipe). ``"lora": true`` trains adapters and merges
them into ``final``; ``"ewc_previous"`` protects what was learnt on that data with EWC (needs
``args.ewc_lambda > 0``).

Layout and re-runs: stage ``NAME`` writes ``OUT/NAME/checkpoint-N`` while it trains, then ``OUT/NAME/final``
(a plain GLiClass checkpoint, renamed into place only when complete) and ``OUT/NAME/stage.json``.
Re-running the recipe skips stages that have both, and resumes a stage that has checkpoints but no
``final`` from its latest checkpoint. To redo a stage, delete its folder (later stages then need deleting
too: they started from the old weights).

Command line: ``uniclass train --recipe recipe.json --out runs/x [--stage rl]`` (``--stage`` stops after
that stage).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

FINAL = "final"
STAGE_FILE = "stage.json"
KINDS = ("supervised", "rl")
_RECIPE_KEYS = {"backbone", "model", "architecture", "options", "seed", "stages"}
_STAGE_KEYS = {"name", "kind", "train", "eval", "lora", "ewc_previous", "args"}

StageHook = Callable[[str, Any], None]


def run_stages(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    until: str | None = None,
    on_stage_start: StageHook | None = None,
) -> list[dict[str, Any]]:
    """Run (or skip, or resume) every stage of a recipe in order; returns one summary per stage.

    Args:
        config: the recipe dict, or the path of a JSON recipe.
        out_dir: where each stage writes ``NAME/checkpoint-N``, ``NAME/final`` and ``NAME/stage.json``.
        until: stop after the stage of this name.
        on_stage_start: called as ``hook(name, classifier)`` with each stage's starting model before it
            trains (not for skipped stages); for inspection and tests.
    """
    recipe, base = load_recipe(config)
    names = [stage["name"] for stage in recipe["stages"]]
    if until is not None and until not in names:
        raise ValueError(f"--stage {until!r} is not a stage of the recipe ({', '.join(names)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start: dict[str, Any] = _initial_start(recipe, base)
    summaries = []
    for stage in recipe["stages"]:
        stage_dir = out / stage["name"]
        if is_finished(stage_dir):
            summary = {**json.loads((stage_dir / STAGE_FILE).read_text(encoding="utf-8")), "skipped": True}
            _warn_if_changed(stage, summary)
        else:
            summary = {**run_stage(stage, start, stage_dir, base, on_stage_start), "skipped": False}
        summaries.append(summary)
        start = {"model": str(stage_dir / FINAL)}
        if stage["name"] == until:
            break
    return summaries


def load_recipe(config: Mapping[str, Any] | str | Path) -> tuple[dict[str, Any], Path]:
    """The validated recipe and the folder its relative paths are resolved from."""
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such recipe file")
        try:
            recipe = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
        base = path.parent
    else:
        recipe, base = dict(config), Path.cwd()
    _validate(recipe)
    return recipe, base


def _validate(recipe: Any) -> None:
    if not isinstance(recipe, Mapping):
        raise TypeError("a recipe is a JSON object with 'backbone' or 'model' and 'stages'")
    unknown = set(recipe) - _RECIPE_KEYS
    if unknown:
        raise ValueError(f"recipe: unknown keys {sorted(unknown)} (allowed: {sorted(_RECIPE_KEYS)})")
    if ("backbone" in recipe) == ("model" in recipe):
        raise ValueError("recipe: give exactly one of 'backbone' (a new model) or 'model' (a GLiClass checkpoint)")
    stages = recipe.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ValueError("recipe: 'stages' must be a non-empty list")
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        where = f"recipe stage {i}"
        if not isinstance(stage, Mapping):
            raise TypeError(f"{where}: expected an object")
        name = stage.get("name")
        if not isinstance(name, str) or not name or name in seen or "/" in name or name.startswith("."):
            raise ValueError(f"{where}: 'name' must be a unique, non-empty folder name, got {name!r}")
        seen.add(name)
        unknown = set(stage) - _STAGE_KEYS
        if unknown:
            raise ValueError(f"stage {name!r}: unknown keys {sorted(unknown)} (allowed: {sorted(_STAGE_KEYS)})")
        if stage.get("kind") not in KINDS:
            raise ValueError(f"stage {name!r}: 'kind' must be one of {KINDS}, got {stage.get('kind')!r}")
        if not stage.get("train"):
            raise ValueError(f"stage {name!r}: 'train' (a data file) is required")
        args = stage.get("args", {})
        if not isinstance(args, Mapping) or "output_dir" in args:
            raise ValueError(f"stage {name!r}: 'args' must be an object without 'output_dir' (the recipe sets it)")
        if stage.get("ewc_previous"):
            if stage["kind"] != "supervised":
                raise ValueError(f"stage {name!r}: 'ewc_previous' applies to supervised stages only")
            if not args.get("ewc_lambda", 0) > 0:
                raise ValueError(f"stage {name!r}: 'ewc_previous' needs args.ewc_lambda > 0")


def is_finished(stage_dir: Path) -> bool:
    """A stage is done once its ``final`` checkpoint and ``stage.json`` are both in place."""
    return (stage_dir / STAGE_FILE).is_file() and (stage_dir / FINAL / "config.json").is_file()


def run_stage(
    stage: Mapping[str, Any],
    start: Mapping[str, Any],
    stage_dir: Path,
    base: Path = Path("."),
    on_stage_start: StageHook | None = None,
) -> dict[str, Any]:
    """Train one stage from ``start`` (``{"model": path}`` or ``{"backbone": ..., ...}``) into ``stage_dir``."""
    name, kind = stage["name"], stage["kind"]
    stage_dir.mkdir(parents=True, exist_ok=True)
    classifier = _load_start(start)
    if on_stage_start is not None:
        on_stage_start(name, classifier)
    resume = _latest_checkpoint(stage_dir, kind)
    train_file = _resolve(stage["train"], base)
    if kind == "rl":
        steps = _run_rl(classifier, stage, stage_dir, train_file, resume)
    else:
        steps = _run_supervised(classifier, stage, stage_dir, train_file, base, resume)
    final = save_final(classifier, stage_dir)
    summary = {
        "name": name,
        "kind": kind,
        "start": start.get("model") or start.get("backbone"),
        "final": str(final),
        "steps": steps,
        "resumed_from": str(resume) if resume else None,
        "stage": dict(stage),
    }
    (stage_dir / STAGE_FILE).write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return summary


def _run_supervised(
    classifier: Classifier, stage: Mapping[str, Any], stage_dir: Path, train_file: str, base: Path, resume: Path | None
) -> int:
    from .args import TrainingArguments
    from .trainer import Trainer

    values = {"save_total_limit": 3, **stage.get("args", {}), "output_dir": str(stage_dir)}
    if stage.get("lora"):
        values["use_lora"] = True
    args = TrainingArguments(**values)
    previous = _resolve(stage["ewc_previous"], base) if stage.get("ewc_previous") else None
    evaluation = _resolve(stage["eval"], base) if stage.get("eval") else None
    trainer = Trainer(classifier, args, train_data=train_file, eval_data=evaluation, previous_data=previous)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return int(trainer.state.global_step)


def _run_rl(
    classifier: Classifier, stage: Mapping[str, Any], stage_dir: Path, train_file: str, resume: Path | None
) -> int:
    from .rl import RLTrainer, RLTrainingArguments

    values = {"save_total_limit": 3, **stage.get("args", {}), "output_dir": str(stage_dir)}
    if stage.get("lora"):
        values["use_lora"] = True
    trainer = RLTrainer(classifier, RLTrainingArguments(**values), train_data=train_file)
    trainer.train(resume_from_checkpoint=resume)
    return trainer.state.global_step


def save_final(classifier: Classifier, stage_dir: Path) -> Path:
    """Write ``final`` (LoRA merged) under a temporary name and rename it: a ``final`` folder is always whole."""
    final, partial = stage_dir / FINAL, stage_dir / (FINAL + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    classifier.save_pretrained(partial)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def _latest_checkpoint(stage_dir: Path, kind: str) -> Path | None:
    from .core import find_checkpoints
    from .rl import STATE_FILE

    found = find_checkpoints(stage_dir, STATE_FILE if kind == "rl" else "trainer_state.json")
    return found[-1] if found else None


def _initial_start(recipe: Mapping[str, Any], base: Path) -> dict[str, Any]:
    if "model" in recipe:
        return {"model": _resolve(recipe["model"], base)}
    return {
        "backbone": _resolve(recipe["backbone"], base),
        "architecture": recipe.get("architecture", "uni-encoder"),
        "options": dict(recipe.get("options", {})),
        "seed": int(recipe.get("seed", 42)),
    }


def _load_start(start: Mapping[str, Any]) -> Classifier:
    from ..classifier import Classifier

    if "model" in start:
        return Classifier.from_pretrained(start["model"], device="cpu")
    torch.manual_seed(start["seed"])  # the new head's initialisation is part of the recipe
    return Classifier.from_backbone(start["backbone"], start["architecture"], **start["options"])


def _resolve(value: str, base: Path) -> str:
    """A relative path is taken relative to the recipe file when it exists there (else as given: a hub id)."""
    path = Path(value)
    if not path.is_absolute() and (base / path).exists():
        return str(base / path)
    return str(value)


def _warn_if_changed(stage: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    recorded = summary.get("stage")
    if recorded is not None and json.loads(json.dumps(dict(stage), default=str)) != recorded:
        warnings.warn(
            f"stage {stage['name']!r} is finished but the recipe changed since it ran; it is skipped "
            "anyway (delete its folder to re-run it)",
            stacklevel=3,
        )
