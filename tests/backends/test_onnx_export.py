"""ONNX export: every model option gives the torch scores on onnxruntime, with dynamic batch, sequence and label axes.

Each case is a tiny random model (or an official parity checkpoint), exported once per session with
``export_onnx`` (which already runs its own parity check), then loaded with ``backend="onnx"`` and compared with
the torch classifier on texts from "" to ~170 words and calls with 1, 3 and 8 labels, per-text label lists of
different sizes, prompts, few-shot examples and single-label softmax. The ONNX classifier runs other batch sizes
than the torch one, so one ONNX session sees many batch, sequence and label-count shapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PARITY
from tests.backends.onnx_helpers import (  # noqa: F401 (fixtures)
    exported_fixture,
    one_thread_module_fixture,
    random_classifier,
    ref,
)

TOLERANCE = 1e-5  # on scores, as for torch vs the official package
# 8 shared labels; per-text lists of 1 to 8 labels; per-text prompts and few-shot examples; softmax
CALLS = ("L8", "per_text", "per_text_prompts_examples", "per_text_single")
CROSS_ATTN = {"scorer_type": "cross-attn", "pooling_strategy": "pass", "scorer_num_heads": 4, "scorer_mlp_hidden_size": 64}
SMALL_SCORER = {"model.scorer.": 0.1}
HOPFIELD_SCORER = {"model.scorer.mlp.": 0.15, "model.scorer.": 0.05}
BI = {"architecture_type": "bi-encoder", "logit_scale_init_value": 0.5}
FUSED = {"architecture_type": "bi-encoder-fused", "logit_scale_init_value": 0.5}


@dataclass
class Case:
    id: str
    options: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)  # random_classifier keyword arguments
    checkpoint: str | None = None  # a parity fixture instead of a random model


# Every uni-encoder option appears at least once: the nine poolings, the five scorers, extract_text_features,
# class_token_pooling first/average, embed_class_token, LSTM, segment embeddings (with examples),
# normalize_features, encoder_layer_id, a projector width other than the encoder's, label-slot allocation, and
# the BERT, DeBERTa-v3, ModernBERT, MPNet and T5 backbones; plus both bi-encoders and both encoder-decoders.
CASES = [
    Case("fixture-uni-bert", checkpoint="uni_bert_default"),
    Case("fixture-uni-deberta", checkpoint="uni_deberta_default"),
    Case("fixture-promptfirst-avg-wdot", checkpoint="uni_bert_promptfirst_avg_wdot"),
    Case("fixture-biencoder", checkpoint="biencoder_bert"),
    Case("last-etf-ctp-average-noemb", {"pooling_strategy": "last", "extract_text_features": True,
                                        "class_token_pooling": "average", "embed_class_token": False}),
    Case("max-etf-pf-lstm", {"pooling_strategy": "max", "extract_text_features": True, "prompt_first": True,
                             "use_lstm": True}),
    Case("sum", {"pooling_strategy": "sum"}, {"std": 0.1}),
    Case("mlp-pf", {"scorer_type": "mlp", "prompt_first": True}, {"std_by_prefix": SMALL_SCORER}),
    Case("rms-etf-seg-examples", {"pooling_strategy": "rms", "extract_text_features": True, "use_segment_embeddings": True},
         {"tokenizer": "bert+example", "seed": 2}),
    Case("absmax-norm-layer1", {"pooling_strategy": "abs_max", "normalize_features": True, "encoder_layer_id": 1},
         {"seed": 1}),
    Case("absavg-etf-pf-wdot", {"pooling_strategy": "abs_avg", "extract_text_features": True, "prompt_first": True,
                                "scorer_type": "weighted-dot"}, {"std_by_prefix": SMALL_SCORER, "seed": 3}),
    Case("crossattn-etf-lstm", {**CROSS_ATTN, "extract_text_features": True, "use_lstm": True}),
    Case("crossattn-norm-ctp-average", {**CROSS_ATTN, "normalize_features": True, "class_token_pooling": "average"},
         {"seed": 3}),
    Case("hopfield-alloc12-pf-etf", {"scorer_type": "hopfield", "max_labels_alloc": 12, "prompt_first": True,
                                     "extract_text_features": True}, {"std_by_prefix": HOPFIELD_SCORER}),
    Case("hopfield-fixed-ctp-first-noemb", {"scorer_type": "hopfield", "max_labels_alloc": "fixed",
                                            "embed_class_token": False}, {"std_by_prefix": HOPFIELD_SCORER}),
    Case("projector-width48-relu", {"hidden_size": 48, "projector_hidden_act": "relu", "pooling_strategy": "avg"}),
    Case("deberta-seg-ctp-average-lstm-max", {"use_segment_embeddings": True, "class_token_pooling": "average",
                                              "use_lstm": True, "pooling_strategy": "max"},
         {"backbone": "deberta", "tokenizer": "deberta"}),
    Case("modernbert-avg-pf", {"pooling_strategy": "avg", "prompt_first": True}, {"backbone": "modernbert"}),
    Case("mpnet-avg-pf-lstm", {"pooling_strategy": "avg", "prompt_first": True, "use_lstm": True}, {"backbone": "mpnet"}),
    Case("t5-avg-etf-pf", {"pooling_strategy": "avg", "extract_text_features": True, "prompt_first": True},
         {"backbone": "t5"}),
    Case("bi-mlp-norm", {**BI, "scorer_type": "mlp", "normalize_features": True}, {"label_encoder": True}),
    Case("bi-avg-hopfield", {**BI, "pooling_strategy": "avg", "scorer_type": "hopfield"},
         {"label_encoder": True, "std_by_prefix": HOPFIELD_SCORER}),
    Case("fused-pf", {**FUSED, "prompt_first": True}, {"label_encoder": True, "seed": 4}),
    Case("fused-hopfield-norm", {**FUSED, "scorer_type": "hopfield", "normalize_features": True},
         {"label_encoder": True, "std_by_prefix": HOPFIELD_SCORER}),
    Case("encdec", {"architecture_type": "encoder-decoder", "class_token_pooling": "average", "extract_text_features": True},
         {"backbone": "t5-encdec"}),
    Case("encdec-crossattn-lstm-norm", {"architecture_type": "encoder-decoder", **CROSS_ATTN, "use_lstm": True,
                                        "normalize_features": True}, {"backbone": "t5-encdec", "seed": 1,
                                                                      "std_by_prefix": SMALL_SCORER}),
    Case("encdec-cls-hopfield", {"architecture_type": "encoder-decoder-cls", "scorer_type": "hopfield"},
         {"backbone": "t5-encdec", "std_by_prefix": HOPFIELD_SCORER}),
]


def _build(case: Case) -> Any:
    from uniclass import Classifier

    if case.checkpoint:
        return Classifier.from_pretrained(PARITY / case.checkpoint, device="cpu")
    return random_classifier(case.options, **case.build)


@pytest.fixture(scope="module")
def onnx_pair(exported, one_thread_module):
    """(torch classifier, ONNX classifier, export folder) per case, built once."""
    from uniclass import Classifier

    loaded: dict[str, tuple[Any, Any, Path]] = {}

    def get(case: Case) -> tuple[Any, Any, Path]:
        if case.id not in loaded:
            clf, folder = exported(case.id, lambda: _build(case))
            loaded[case.id] = (clf, Classifier.from_pretrained(folder, backend="onnx", num_threads=1), folder)
        return loaded[case.id]

    return get


def _scores(clf: Any, call_name: str, batch_size: int) -> list[list[float]]:
    call = ref.CALLS[call_name]
    return clf.scores(ref.TEXTS, call.labels, batch_size=batch_size, **call.kwargs())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_onnx_scores_equal_torch(onnx_pair, case: Case) -> None:
    """Scores from onnxruntime equal torch within 1e-5 on every call (mixed lengths and label counts per session)."""
    clf, onnx_clf, folder = onnx_pair(case)
    parity = json.loads((folder / "onnx_parity.json").read_text())
    assert parity["fp32"]["max_abs_logit_diff"] <= 1e-4
    expected = {name: _scores(clf, name, batch_size=4) for name in CALLS}
    ref.assert_informative(expected, case.id)  # degenerate (all-equal, saturated) scores would prove little
    diffs = {name: ref.max_abs_diff(scores, _scores(onnx_clf, name, batch_size=3)) for name, scores in expected.items()}
    assert max(diffs.values()) <= TOLERANCE, ", ".join(f"{k}={v:.2e}" for k, v in diffs.items())


def test_onnx_reproduces_official_scores(onnx_pair) -> None:
    """The exported parity checkpoint gives the official gliclass outputs stored with the fixture."""
    from tests.conftest import load_expected

    _, onnx_clf, _ = onnx_pair(CASES[0])
    call = next(c for c in load_expected("uni_bert_default")["calls"] if c["id"] == "L8_multi_bs1")
    got = onnx_clf.scores(call["texts"], call["labels"], batch_size=5)
    assert ref.max_abs_diff(got, call["scores"]) <= TOLERANCE


def test_graph_axes_are_dynamic_and_labels_are_not_capped(onnx_pair) -> None:
    """No axis is a fixed number in the graph, and 60 labels (the official exports bake in 25) run in one session."""
    import onnx

    clf, onnx_clf, folder = onnx_pair(CASES[0])
    graph = onnx.load(str(folder / "model.onnx")).graph
    for tensor in [*graph.input, *graph.output]:
        dims = tensor.type.tensor_type.shape.dim
        assert all(d.dim_param and not d.dim_value for d in dims), (tensor.name, dims)
    assert {t.name for t in graph.input} == {"input_ids", "attention_mask", "slot_mask"}
    many = [f"topic number {i}" for i in range(60)]
    text = "The striker scored twice in the derby."
    got = onnx_clf.scores([text, "ok"], many, batch_size=2)
    assert len(got[0]) == 60
    assert ref.max_abs_diff(got, clf.scores([text, "ok"], many)) <= TOLERANCE


def test_bi_encoder_exports_two_graphs(onnx_pair) -> None:
    case = next(c for c in CASES if c.id == "fixture-biencoder")
    _, _, folder = onnx_pair(case)
    parity = json.loads((folder / "onnx_parity.json").read_text())
    assert parity["graphs"] == {"model": "model.onnx", "label_encoder": "label_encoder.onnx"}
    assert parity["fp32"]["max_abs_label_vector_diff"] <= 1e-5
    assert (folder / "label_tokenizer" / "tokenizer.json").is_file()


# ---------------------------------------------------------------- the parity check can fail
def test_export_fails_loudly_when_the_graph_differs(tmp_path, monkeypatch) -> None:
    """A graph that computes something else than torch (here: logits + 1e-3) is refused after export."""
    from uniclass.exporters import onnx as onnx_export

    original = onnx_export._LogitsGraph.forward
    monkeypatch.setattr(onnx_export._LogitsGraph, "forward", lambda self, *inputs: original(self, *inputs) + 1e-3)
    with pytest.raises(onnx_export.OnnxParityError, match="max \\|Δlogit\\|"):
        onnx_export.export_onnx(PARITY / "uni_bert_default", tmp_path / "bad")
    parity = json.loads((tmp_path / "bad" / "onnx_parity.json").read_text())
    assert parity["fp32"]["max_abs_logit_diff"] == pytest.approx(1e-3, rel=0.05)
    monkeypatch.undo()
    out = onnx_export.export_onnx(PARITY / "uni_bert_default", tmp_path / "bad", check=True)  # fixed: passes
    assert json.loads((out / "onnx_parity.json").read_text())["fp32"]["max_abs_logit_diff"] <= 1e-4


def test_verify_export_detects_a_changed_reference(onnx_pair, tmp_path) -> None:
    import shutil

    from uniclass.backends.onnx_runtime import verify_export

    _, _, folder = onnx_pair(CASES[0])
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    assert verify_export(copy)["summary"]["max_abs_logit_diff"] <= 1e-4
    parity = json.loads((copy / "onnx_parity.json").read_text())
    parity["reference"]["batches"][1]["logits"][0][0] += 0.25
    (copy / "onnx_parity.json").write_text(json.dumps(parity))
    assert verify_export(copy)["summary"]["max_abs_logit_diff"] == pytest.approx(0.25, abs=1e-3)


# ---------------------------------------------------------------- int8
def test_int8_export_reports_its_error_and_runs(exported) -> None:
    from uniclass import Classifier

    _, folder = exported("int8-bi", lambda: _build(next(c for c in CASES if c.id == "bi-mlp-norm")), quantize=True)
    parity = json.loads((folder / "onnx_parity.json").read_text())
    int8 = parity["int8"]
    assert int8["graphs"] == {"model": "model_int8.onnx", "label_encoder": "label_encoder_int8.onnx"}
    for key in ("max_abs_score_diff_vs_fp32", "max_abs_logit_diff_vs_fp32"):
        assert math.isfinite(int8[key]) and 0.0 < int8[key]  # really quantized: not the fp32 numbers
    assert int8["max_abs_score_diff_vs_fp32"] < 0.5
    assert (folder / "model_int8.onnx").stat().st_size < (folder / "model.onnx").stat().st_size
    quantized = Classifier.from_pretrained(folder, backend="onnx", quantized=True, num_threads=1)
    fp32 = Classifier.from_pretrained(folder, backend="onnx", num_threads=1)
    a, b = quantized.scores(ref.TEXTS, ref.LABELS_8), fp32.scores(ref.TEXTS, ref.LABELS_8)
    assert 0.0 < ref.max_abs_diff(a, b) < 0.5


def test_quantized_needs_the_int8_files(onnx_pair) -> None:
    from uniclass import Classifier

    _, _, folder = onnx_pair(CASES[0])
    with pytest.raises(FileNotFoundError, match="--quantize"):
        Classifier.from_pretrained(folder, backend="onnx", quantized=True)


# ---------------------------------------------------------------- the other exporter
@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_scores(tmp_path, one_torch_thread) -> None:
    """torch.onnx's dynamo exporter (slower; no packed LSTM or T5) also yields a correct dynamic graph."""
    from uniclass import Classifier
    from uniclass.exporters.onnx import export_onnx

    out = export_onnx(PARITY / "uni_deberta_default", tmp_path / "dynamo", exporter="dynamo")
    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["exporter"] == "dynamo" and parity["opset"] == 18
    clf = Classifier.from_pretrained(PARITY / "uni_deberta_default", device="cpu")
    onnx_clf = Classifier.from_pretrained(out, backend="onnx", num_threads=1)
    for name in ("L3", "per_text"):
        assert ref.max_abs_diff(_scores(clf, name, 4), _scores(onnx_clf, name, 3)) <= TOLERANCE


def test_export_refuses_bad_arguments(tmp_path) -> None:
    from uniclass.exporters.onnx import export_onnx

    with pytest.raises(ValueError, match="exporter"):
        export_onnx(PARITY / "uni_bert_default", tmp_path / "x", exporter="jit")
    with pytest.raises(FileNotFoundError):
        export_onnx(tmp_path / "missing", tmp_path / "y")


def test_export_leaves_the_source_model_alone(tmp_path) -> None:
    """The export works on a float32 CPU copy: an fp16 classifier stays fp16 and keeps its scores."""
    import torch

    from uniclass import Classifier
    from uniclass.exporters.onnx import export_onnx

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", dtype="float16")
    before = clf.scores(ref.TEXTS[:2], ref.LABELS_3)
    export_onnx(clf, tmp_path / "from-fp16")
    assert clf.model.dtype == torch.float16
    assert clf.scores(ref.TEXTS[:2], ref.LABELS_3) == before
    config = json.loads((tmp_path / "from-fp16" / "config.json").read_text())
    assert config["dtype"] == "float32"
