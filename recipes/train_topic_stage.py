"""Experiment (not shipped): a second stage on WordNet topic domains, from a stage-1 checkpoint.

Stage-1 checkpoints of ``recipes/train_v1.py`` trail embedding similarity on topical sets (BBC News,
FOLDOC). The training corpora's only subject-area signal is WordNet's topic-domain pointers (corpus
``wordnet_topics``: gloss -> "computer science", "law", ...). This stage trains on that corpus three times
over plus 20,000 items of the stage-1 mixture (against forgetting), with the shipped recipe's model and
optimiser settings, from a stage-1 checkpoint's weights (fresh optimiser and schedule).

Measured (``benchmarks/RESULTS.md`` §2): it did not help, so the shipped model does not include it::

    python recipes/train_topic_stage.py --init runs/v2/checkpoint-2000 --out runs/v3 --max-steps 600
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from uniclass_lab.mixtures import SEED, build_v1_mixture, write_shuffled
from uniclass_lab.recipe_steps.v1 import TRAINING_OPTIONS, train_and_resume

TOPIC_COPIES = 3
GENERAL_SAMPLE = 20_000


def build_topic_mixture(path: Path, general: Path) -> Path:
    """The topic-domain corpus ``TOPIC_COPIES`` times plus ``GENERAL_SAMPLE`` items of the stage-1 mixture."""
    from uniclass_lab.corpora import fetch

    if path.is_file():
        return path
    rng = random.Random(SEED)
    lines = fetch("wordnet_topics").read_text(encoding="utf-8").splitlines() * TOPIC_COPIES
    lines += rng.sample(general.read_text(encoding="utf-8").splitlines(), GENERAL_SAMPLE)
    return write_shuffled(path, lines, rng)


def train(init: Path, out: Path, max_steps: int) -> None:
    import torch

    from uniclass import Classifier

    torch.manual_seed(SEED)
    data = build_topic_mixture(out / "mixture.jsonl", build_v1_mixture(init.parent / "mixture.jsonl"))
    train_and_resume(Classifier.from_pretrained(init, device="cpu"), data, out, max_steps, TRAINING_OPTIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", type=Path, required=True, help="a stage-1 checkpoint of recipes/train_v1.py")
    parser.add_argument("--out", type=Path, default=Path("runs/v3"))
    parser.add_argument("--max-steps", type=int, default=600)
    args = parser.parse_args()
    train(args.init, args.out, args.max_steps)


if __name__ == "__main__":
    main()
