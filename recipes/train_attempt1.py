"""First attempt at the default model (kept to reproduce its row in benchmarks/RESULTS.md; not shipped).

Same data, seed, batch, schedule and negatives as ``recipes/train_v1.py``; it differs in the model and
learning rates: official small random head initialisation, ``avg`` pooling over the whole sequence (labels
included), ``first``-token label vectors, unnormalised dot product, encoder LR 5e-5, 1000 steps.

    python recipes/train_attempt1.py --out runs/default --max-steps 1000
    python recipes/train_attempt1.py --out runs/default --max-steps 1000 --export runs/v1-export
"""

from __future__ import annotations

from uniclass_lab.recipe_steps.v1 import main

MODEL_OPTIONS = dict(prompt_first=True, pooling_strategy="avg", scorer_type="simple")
TRAINING_OPTIONS = dict(learning_rate=5e-5, head_learning_rate=5e-4)

if __name__ == "__main__":
    main(doc=__doc__, default_out="runs/default", default_steps=1000, model_options=MODEL_OPTIONS,
         training_options=TRAINING_OPTIONS)
