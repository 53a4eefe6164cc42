"""``training.fit``: the prototypes ``fit`` sets, rebuilt outside the classifier (as ``benchmarks/few_shot_prior.py``
computes its fused rows from cached model logits) give the classifier's own logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from uniclass import Classifier
from uniclass.backends.embedding import REFERENCE_FILE, EmbeddingPrior, PriorSpec, save_reference
from uniclass.training.fit import prototype_examples

from ..conftest import PARITY

TRAIN = ["the striker scored twice", "a late goal won the cup", "shares fell after the call", "the bank raised rates",
         "rain all afternoon"]
TRAIN_LABELS = ["sports", "sports", "finance", "finance", "weather"]
LABELS = ["sports", "finance", "weather", "politics"]  # politics has no examples: it keeps its prompt vector
TEST = ["The keeper saved a penalty.", "Bond yields rose again.", "Sunny with a light breeze.", "a"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_backbone) -> Path:
    """The parity uni-encoder plus a prior shaped like the default model's: an ensemble and reference statistics."""
    folder = tmp_path_factory.mktemp("uni-fit-prior")
    shutil.copytree(PARITY / "uni_bert_default", folder, dirs_exist_ok=True)
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(32, 32)) / 32
    save_reference(rng.normal(size=32) * 0.1, factor @ factor.T + 0.01 * np.eye(32), folder)
    spec = {"kind": "embedding-similarity", "weight": 5.0, "max_length": 64, "backbone": {"folder": str(tiny_backbone)},
            "ensemble": ["This is about {}.", "Label: {}."], "reference": REFERENCE_FILE, "reference_scale": 0.5}
    (folder / "prior.json").write_text(json.dumps(spec))
    return folder


def test_prototype_examples_keeps_candidates_and_order() -> None:
    examples = prototype_examples(["a", "b", "c"], [["x"], ["y", "x"], ["z"]], ["x", "y", "w"])
    assert examples == {"x": ["a", "b"], "y": ["b"], "w": []}


def test_fit_logits_equal_model_logits_plus_a_rebuilt_prior(checkpoint: Path) -> None:
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False)  # default: prototypes only
    expected = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])

    alone = Classifier.from_pretrained(checkpoint, device="cpu", prior=False)
    model = np.array([p.logits for p in alone.predict(TEST, LABELS, multi_label=False)])
    prior = EmbeddingPrior.load(PriorSpec.load(checkpoint), checkpoint)
    prior.set_prototypes(prototype_examples(TRAIN, [[y] for y in TRAIN_LABELS], LABELS))
    rebuilt = model + np.stack(prior.logits(TEST, [LABELS] * len(TEST)))
    np.testing.assert_allclose(rebuilt, expected, atol=1e-4)
    prior.clear_prototypes()  # and without prototypes: the zero-shot fused logits differ
    assert not np.allclose(model + np.stack(prior.logits(TEST, [LABELS] * len(TEST))), expected, atol=1e-4)
