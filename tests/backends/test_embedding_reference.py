"""The prior's optional prompt ensemble and per-label reference standardisation (prior.json "ensemble",
"reference", "reference_scale"; issue 12): parsing, the logits' formula, save/load and the ONNX export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from uniclass import Classifier
from uniclass.backends.embedding import (
    REFERENCE_FILE,
    EmbeddingPrior,
    PriorError,
    PriorSpec,
    SentenceEmbedder,
    load_reference,
    save_reference,
)

from ..conftest import PARITY

TEXTS = ["The striker scored twice in the final.", "Shares fell 5% after the earnings call.", "a"]
LABELS = ["sports", "finance", "politics"]
ENSEMBLE = ["This is about {}.", "Label: {}."]
BASE = {"kind": "embedding-similarity", "weight": 3.0, "backbone": {"folder": "x"}}


def _reference(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(dim, dim)) / dim
    return rng.normal(size=dim) * 0.1, factor @ factor.T + 0.01 * np.eye(dim)


@pytest.fixture(scope="module")
def with_reference(tmp_path_factory, tiny_backbone) -> Path:
    """The parity uni-encoder plus a prior with an ensemble and reference statistics (tiny random BERT, dim 32)."""
    folder = tmp_path_factory.mktemp("uni-with-reference")
    shutil.copytree(PARITY / "uni_bert_default", folder, dirs_exist_ok=True)
    save_reference(*_reference(32), folder)
    spec = {**BASE, "backbone": {"folder": str(tiny_backbone)}, "ensemble": ENSEMBLE, "reference": REFERENCE_FILE,
            "reference_scale": 0.5}
    (folder / "prior.json").write_text(json.dumps(spec))
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ensemble": "This is about {}."}, "ensemble"),
        ({"ensemble": ["no slot"]}, "ensemble"),
        ({"reference": "../elsewhere.safetensors"}, "reference"),
        ({"reference": 3}, "reference"),
        ({"reference": REFERENCE_FILE, "reference_scale": 0}, "reference_scale"),
        ({"reference": REFERENCE_FILE, "reference_scale": True}, "reference_scale"),
    ],
)
def test_malformed_ensemble_or_reference_is_one_clear_error(extra: dict, message: str) -> None:
    with pytest.raises(PriorError, match=message):
        PriorSpec.from_dict({**BASE, **extra})


def test_older_prior_json_loads_unchanged_and_new_keys_round_trip(tmp_path: Path) -> None:
    old = PriorSpec.from_dict(BASE)
    assert old.ensemble == () and old.reference is None and old.templates == (old.template,)
    assert set(old.to_dict()) == {"kind", "weight", "center", "template", "max_length", "backbone"}  # written as before
    new = PriorSpec.from_dict({**BASE, "ensemble": ENSEMBLE, "reference": REFERENCE_FILE, "reference_scale": 0.25})
    new.save(tmp_path)
    assert PriorSpec.load(tmp_path) == new and new.templates == (new.template, *ENSEMBLE)


def test_reference_file_round_trip_and_errors(tmp_path: Path) -> None:
    mean, cov = _reference(8)
    save_reference(mean, cov, tmp_path)
    got_mean, got_cov = load_reference(tmp_path / REFERENCE_FILE)
    np.testing.assert_allclose(got_mean, mean, atol=1e-6)
    np.testing.assert_allclose(got_cov, cov, atol=1e-6)
    with pytest.raises(PriorError, match="not in"):
        load_reference(tmp_path / "missing.safetensors")
    save_reference(mean, cov[:4], tmp_path, "bad.safetensors")
    with pytest.raises(PriorError, match="expected"):
        load_reference(tmp_path / "bad.safetensors")


def test_logits_are_the_ensemble_cosines_standardised_per_label(with_reference: Path, tiny_backbone: Path) -> None:
    prior = EmbeddingPrior.load(PriorSpec.load(with_reference), with_reference)
    embedder = SentenceEmbedder(tiny_backbone)
    texts = embedder.embed(TEXTS).astype(np.float64)
    per_template = [embedder.embed([t.format(label) for label in LABELS]) for t in prior.spec.templates]
    labels = np.mean(per_template, axis=0)
    labels /= np.linalg.norm(labels, axis=1, keepdims=True)
    np.testing.assert_allclose(prior.prompt_vectors(LABELS), labels, atol=1e-6)  # the unit mean of the templates
    mean, cov = _reference(32)
    spread = np.sqrt(np.einsum("ld,de,le->l", labels, cov, labels))
    adjusted = (texts @ labels.T - labels @ mean) * 0.5 / spread
    expected = 3.0 * (adjusted - adjusted.mean(1, keepdims=True))
    np.testing.assert_allclose(np.array(prior.logits(TEXTS, [LABELS] * 3)), expected, atol=1e-4)


def test_missing_reference_file_fails_at_load(with_reference: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(with_reference, folder)
    (folder / REFERENCE_FILE).unlink()
    with pytest.raises(PriorError, match=REFERENCE_FILE):
        Classifier.from_pretrained(folder, device="cpu")


def test_save_pretrained_writes_the_reference_file(with_reference: Path, tmp_path: Path) -> None:
    clf = Classifier.from_pretrained(with_reference, device="cpu")
    clf.save_pretrained(tmp_path / "out")
    assert (tmp_path / "out" / REFERENCE_FILE).is_file() and PriorSpec.load(tmp_path / "out") == clf.prior.spec
    again = Classifier.from_pretrained(tmp_path / "out", device="cpu")
    np.testing.assert_allclose(again.scores(TEXTS, LABELS), clf.scores(TEXTS, LABELS), atol=1e-6)


def test_onnx_export_carries_the_reference(with_reference: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    out = export_onnx(with_reference, tmp_path / "onnx")
    assert (out / REFERENCE_FILE).is_file() and PriorSpec.load(out).ensemble == tuple(ENSEMBLE)
    torch_clf = Classifier.from_pretrained(with_reference, device="cpu")
    onnx_clf = Classifier.from_pretrained(out, backend="onnx")
    np.testing.assert_allclose(onnx_clf.scores(TEXTS, LABELS), torch_clf.scores(TEXTS, LABELS), atol=1e-5)


def test_shortlist_centres_with_the_standardised_cosines(with_reference: Path) -> None:
    """A shortlisted label keeps the prior logit it has when the whole set is scored (reference included)."""
    clf = Classifier.from_pretrained(with_reference, device="cpu")
    labels = [f"topic {i}" for i in range(30)]
    candidates, _, centers = clf._shortlist(TEXTS[:2], labels, 4)
    whole = clf.prior.logits(TEXTS[:2], [labels] * 2)
    short = clf.prior.logits(TEXTS[:2], candidates, centers=centers)
    for i, row in enumerate(candidates):
        np.testing.assert_allclose(short[i], [whole[i][labels.index(label)] for label in row], atol=1e-5)
