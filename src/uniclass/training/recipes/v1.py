"""The first shipped default model's (v1) recipe as code: model options, trainer settings, training with resume,
export. ``recipes/train_v1.py`` is its command line and documents it; ``recipes/train_attempt1.py`` and
``recipes/train_topic_stage.py`` reuse it with other options; the data is
:func:`uniclass.data.mixtures.build_v1_mixture`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...data.mixtures import SEED, build_v1_mixture
from ..core import find_checkpoints
from .default import backbone_path, export_fp16

# The shipped recipe: model options for Classifier.from_backbone and TrainingArguments overrides.
MODEL_OPTIONS = dict(
    prompt_first=True, pooling_strategy="avg", scorer_type="simple", extract_text_features=True,
    class_token_pooling="average", normalize_features=True, logit_scale_init_value=10.0, identity_projectors=True,
)
TRAINING_OPTIONS = dict(learning_rate=3e-5, head_learning_rate=5e-4)


def train(out: Path, max_steps: int, model_options: dict = MODEL_OPTIONS, training_options: dict = TRAINING_OPTIONS) -> None:
    import torch

    from ... import Classifier

    torch.manual_seed(SEED)
    data = build_v1_mixture(out / "mixture.jsonl")
    clf = Classifier.from_backbone(backbone_path(), **model_options)
    train_and_resume(clf, data, out, max_steps, training_options)


def train_and_resume(clf: Any, data: Path, out: Path, max_steps: int, training_options: dict) -> None:
    """The shipped recipe's trainer settings; resumes from the last checkpoint in ``out`` if there is one."""
    import torch

    from .. import Trainer, TrainingArguments

    checkpoints = find_checkpoints(out, "trainer_state.json")
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=16,
        warmup_steps=0.05,
        lr_scheduler_type="linear",
        weight_decay=0.01,
        max_length=256,
        negatives_per_item=2,
        shuffle_labels=True,
        logging_steps=25,
        save_steps=200,
        save_total_limit=2,
        seed=SEED,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        **training_options,
    )
    trainer = Trainer(clf, args, train_data=data)
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)


def export(out: Path, target: Path) -> None:
    checkpoints = find_checkpoints(out, "trainer_state.json")
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    export_fp16(checkpoints[-1], target, {"global_step": state["global_step"], "seed": SEED})


def main(argv: list[str] | None = None, *, doc: str | None = None, default_out: str = "runs/v2", default_steps: int = 600,
         model_options: dict = MODEL_OPTIONS, training_options: dict = TRAINING_OPTIONS) -> None:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(default_out))
    parser.add_argument("--max-steps", type=int, default=default_steps)
    parser.add_argument("--export", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.export:
        export(args.out, args.export)
    else:
        train(args.out, args.max_steps, model_options, training_options)
