"""Checkpoints with a learned calibrator, saved by the official ``gliclass`` 0.1.21: uniclass reproduces them.

Each case builds a tiny random official model (``tests.official_reference``), attaches the official calibrator
with ``GLiClassModel.add_calibrator`` (every option: with and without bias, several hidden sizes and beta_max,
uni-encoder, bi-encoder, fused bi-encoder, encoder-decoder), redraws all weights (the calibrator's small enough
that beta spreads over (0, beta_max) instead of saturating), saves it with the official ``save_pretrained`` and
compares uniclass with the official pipeline at batch size 1: the calibrated ``score`` and the official
``initial_score`` (the score before the calibrator), for multi-label and single-label (softmax) calls.
Tolerance 1e-5 (the target is 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gliclass  # the reference implementation (test extra); a missing install must fail, not skip
import pytest
import torch

from tests import official_reference as ref
from uniclass import Classifier

TOLERANCE = 1e-5
MULTI_CALLS = ("L1", "L3", "L8", "per_text", "L8_prompt", "L3_examples")
SINGLE_CALLS = ("L8_single", "per_text_single")
BI_MULTI_CALLS = ("L1", "L3", "L8", "EQ8", "L8_prompt")
BI_SINGLE_CALLS = ("L8_single", "EQ8_prompt_single")
BI = {"architecture_type": "bi-encoder", "logit_scale_init_value": 0.5}
FUSED = {"architecture_type": "bi-encoder-fused", "logit_scale_init_value": 0.5}
# std 0.3 on a (4 * 32 + 6) -> hidden MLP saturates beta at 0 or beta_max; 0.05 spreads it out
CALIBRATOR_STD = 0.05


@dataclass
class Case:
    id: str
    calibrator: dict[str, Any]  # add_calibrator keyword arguments
    options: dict[str, Any] = field(default_factory=dict)
    backbone: str = "bert"
    label_encoder: bool = False
    multi_calls: tuple[str, ...] = MULTI_CALLS
    single_calls: tuple[str, ...] = SINGLE_CALLS
    seed: int = 0


CASES = [
    Case("uni-default", {}),
    Case("uni-bias-h16-b5", {"use_bias": True, "hidden_size": 16, "beta_max": 5.0}),
    Case("uni-bias-h64-b1.5-avg-pf", {"use_bias": True, "hidden_size": 64, "beta_max": 1.5},
         {"pooling_strategy": "avg", "prompt_first": True}, seed=1),
    Case("uni-h8-norm-etf", {"hidden_size": 8, "beta_max": 4.0, "dropout": 0.3},
         {"normalize_features": True, "extract_text_features": True, "class_token_pooling": "average"}, seed=2),
    Case("uni-bias-wdot-proj48", {"use_bias": True, "hidden_size": 32}, {"hidden_size": 48}, seed=3),
    Case("bi-default", {}, dict(BI), label_encoder=True, multi_calls=BI_MULTI_CALLS, single_calls=BI_SINGLE_CALLS),
    Case("bi-bias-h32-b4", {"use_bias": True, "hidden_size": 32, "beta_max": 4.0}, dict(BI), label_encoder=True,
         multi_calls=BI_MULTI_CALLS, single_calls=BI_SINGLE_CALLS, seed=1),
    Case("fused-bias", {"use_bias": True, "hidden_size": 16}, dict(FUSED), label_encoder=True,
         multi_calls=BI_MULTI_CALLS, single_calls=BI_SINGLE_CALLS),
    Case("ed-bias", {"use_bias": True, "hidden_size": 16}, {"architecture_type": "encoder-decoder"},
         backbone="t5-encdec", multi_calls=("L3", "L8"), single_calls=("L8_single",)),
]


def randomize_calibrator_(calibrator: torch.nn.Module, seed: int) -> None:
    """Redraw the calibrator's weights (a fresh one is the identity) so that beta and bias vary per pair."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(calibrator.named_parameters(), key=lambda item: item[0]):
            std = CALIBRATOR_STD if name.startswith("mlp.") else 0.3
            param.copy_(torch.randn(param.shape, generator=generator) * std + (1.0 if name.endswith("norm.weight") else 0.0))


class Workspace:
    """Each official calibrated checkpoint built once per session."""

    def __init__(self, root: Path):
        self.root = root
        self._built: dict[str, tuple[Any, Any, Path]] = {}

    def checkpoint(self, case: Case) -> tuple[Any, Any, Path]:
        if case.id not in self._built:
            tokenizer = ref.bert_tokenizer()
            backbone = ref.encoder_config(case.backbone, len(tokenizer))
            label_backbone = ref.encoder_config("bert", len(tokenizer), hidden_size=24) if case.label_encoder else None
            folder = self.root / case.id
            model, folder = ref.build_official_checkpoint(
                folder, tokenizer, backbone, label_backbone=label_backbone, seed=case.seed, **case.options
            )
            model.add_calibrator(**case.calibrator)  # the official API
            randomize_calibrator_(model.calibrator, case.seed + 100)
            model.eval()
            with ref.quiet():
                model.save_pretrained(str(folder))
            self._built[case.id] = (model, tokenizer, folder)
        return self._built[case.id]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Workspace(tmp_path_factory.mktemp("calibrated"))
    torch.set_num_threads(threads)


def official_multi_label(model: Any, tokenizer: Any, call_name: str) -> tuple[list[list[float]], list[list[float]]]:
    """Official (scores, initial scores) of every label, batch size 1, threshold 0."""
    call = ref.CALLS[call_name]
    pipe = ref.official_pipeline(model, tokenizer)
    with ref.quiet():
        results = pipe(list(ref.TEXTS), call.labels, threshold=0.0, batch_size=1, prompt=call.prompt,
                       examples=call.examples)
    per_text = [list(call.labels)] * len(ref.TEXTS) if isinstance(call.labels[0], str) else call.labels
    for result, labels in zip(results, per_text, strict=True):
        assert [item["label"] for item in result] == list(labels)
    return ([[item["score"] for item in r] for r in results], [[item["initial_score"] for item in r] for r in results])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_calibrated_scores_equal_official(workspace: Workspace, case: Case) -> None:
    model, tokenizer, folder = workspace.checkpoint(case)
    assert model.calibrator is not None
    clf = Classifier.from_pretrained(folder, device="cpu")
    assert clf.model.calibrator is not None and clf.config.use_calibrator
    worst, moved = 0.0, 0.0
    for call_name in case.multi_calls:
        call = ref.CALLS[call_name]
        scores, initial = official_multi_label(model, tokenizer, call_name)
        predictions = clf.predict(ref.TEXTS, call.labels, batch_size=4, **call.kwargs())
        worst = max(worst, ref.max_abs_diff(scores, [p.scores for p in predictions]),
                    ref.max_abs_diff(initial, [p.initial_scores for p in predictions]))
        moved = max(moved, ref.max_abs_diff(scores, initial))
    for call_name in case.single_calls:
        call = ref.CALLS[call_name]
        expected = ref.official_scores(model, tokenizer, ref.TEXTS, call.labels, **call.kwargs())
        got = clf.scores(ref.TEXTS, call.labels, batch_size=4, **call.kwargs())
        worst = max(worst, ref.max_abs_diff(expected, got))
    assert worst <= TOLERANCE, f"{case.id}: max |Δscore| {worst:.2e}"
    # negative control: the calibrator moves the official scores far beyond the tolerance
    assert moved > 1e-2, f"{case.id}: the calibrator barely changes the scores ({moved:.2e})"


def test_classify_reports_initial_score_like_the_official_pipeline(workspace: Workspace) -> None:
    model, tokenizer, folder = workspace.checkpoint(CASES[1])
    clf = Classifier.from_pretrained(folder, device="cpu")
    pipe = ref.official_pipeline(model, tokenizer)
    with ref.quiet():
        official = pipe([ref.TEXTS[0]], ref.LABELS_8, threshold=0.3, batch_size=1)[0]
    ours = clf.classify(ref.TEXTS[0], ref.LABELS_8, threshold=0.3)
    assert sorted(item["label"] for item in ours) == sorted(item["label"] for item in official)
    by_label = {item["label"]: item for item in official}
    for item in ours:
        assert set(item) == {"label", "score", "initial_score"}
        assert abs(item["score"] - by_label[item["label"]]["score"]) <= TOLERANCE
        assert abs(item["initial_score"] - by_label[item["label"]]["initial_score"]) <= TOLERANCE


def test_uncalibrated_checkpoint_has_no_initial_score(workspace: Workspace) -> None:
    tokenizer = ref.bert_tokenizer()
    _, folder = ref.build_official_checkpoint(workspace.root / "plain", tokenizer, ref.encoder_config("bert", len(tokenizer)))
    clf = Classifier.from_pretrained(folder, device="cpu")
    assert clf.predict("a text", ["a", "b"])[0].initial_scores is None
    assert all(set(item) == {"label", "score"} for item in clf.classify("a text", ["a", "b"], threshold=0.0))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in (CASES[1], CASES[6])])
def test_saved_back_checkpoint_reloads_in_the_official_package(workspace: Workspace, case: Case, tmp_path: Path) -> None:
    """uniclass ``save_pretrained`` keeps ``calibrator.*`` and the config keys: the official package reloads it and
    gives the same calibrated scores."""
    model, tokenizer, folder = workspace.checkpoint(case)
    clf = Classifier.from_pretrained(folder, device="cpu")
    out = clf.save_pretrained(tmp_path / "saved")
    with ref.quiet():
        reloaded = gliclass.GLiClassModel.from_pretrained(str(out)).eval()
    assert reloaded.calibrator is not None
    assert reloaded.config.calibrator_use_bias == model.config.calibrator_use_bias
    call = ref.CALLS["L8"]
    before, _ = official_multi_label(model, tokenizer, "L8")
    after, _ = official_multi_label(reloaded, tokenizer, "L8")
    assert ref.max_abs_diff(before, after) <= 1e-6
    assert ref.max_abs_diff(after, clf.scores(ref.TEXTS, call.labels)) <= TOLERANCE


def test_pass_pooling_cannot_carry_a_calibrator() -> None:
    from uniclass.config import GLiClassConfig

    with pytest.raises(ValueError, match="pooling_strategy 'pass'"):
        GLiClassConfig(encoder_config=ref.encoder_config("bert", 389), scorer_type="cross-attn",
                       pooling_strategy="pass", use_calibrator=True)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in (CASES[1], CASES[6])])
def test_onnx_export_runs_the_calibrator(workspace: Workspace, case: Case, tmp_path: Path) -> None:
    """The ONNX export carries the calibrator (``calibrator.onnx`` + the vectors as extra outputs of ``model.onnx``):
    calibrated and initial scores equal the official ones there too."""
    pytest.importorskip("onnxruntime")
    from uniclass.exporters.onnx import export_onnx

    model, tokenizer, folder = workspace.checkpoint(case)
    out = export_onnx(folder, tmp_path / "onnx")
    assert (out / "calibrator.onnx").is_file()
    clf = Classifier.from_pretrained(out, backend="onnx")
    scores, initial = official_multi_label(model, tokenizer, "L8")
    predictions = clf.predict(ref.TEXTS, ref.CALLS["L8"].labels, batch_size=4)
    assert ref.max_abs_diff(scores, [p.scores for p in predictions]) <= 1e-5
    assert ref.max_abs_diff(initial, [p.initial_scores for p in predictions]) <= 1e-5
    single = ref.official_scores(model, tokenizer, ref.TEXTS, ref.LABELS_8, multi_label=False)
    assert ref.max_abs_diff(single, clf.scores(ref.TEXTS, ref.LABELS_8, multi_label=False)) <= 1e-5


def test_server_returns_initial_score_like_the_official_pipeline(workspace: Workspace) -> None:
    httpx = pytest.importorskip("httpx")
    from tests.serve.live_server import LiveServer
    from uniclass.serve.app import create_app

    model, tokenizer, folder = workspace.checkpoint(CASES[1])
    clf = Classifier.from_pretrained(folder, device="cpu")
    pipe = ref.official_pipeline(model, tokenizer)
    with ref.quiet():
        official = pipe(list(ref.TEXTS[:2]), ref.LABELS_3, threshold=0.0, batch_size=1)
    with LiveServer(create_app(clf, max_wait_ms=5, refusal_share=1.0)) as url:
        response = httpx.post(f"{url}/v1/classify", json={"texts": list(ref.TEXTS[:2]), "labels": ref.LABELS_3,
                                                            "threshold": 0.0}, timeout=60)
    assert response.status_code == 200, response.text
    for got, want in zip(response.json()["results"], official, strict=True):
        want_by_label = {item["label"]: item for item in want}
        assert len(got) == len(want)
        for item in got:
            assert abs(item["score"] - want_by_label[item["label"]]["score"]) <= TOLERANCE
            assert abs(item["initial_score"] - want_by_label[item["label"]]["initial_score"]) <= TOLERANCE
