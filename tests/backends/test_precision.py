"""precision=: each mode runs, picks the right dtypes, stays within its stated tolerance; the hardware checks."""

from __future__ import annotations

import warnings

import pytest
import torch
from tests.conftest import PARITY, load_expected

from uniclass.backends import precision as prec

# Stated tolerances (max |Δscore| against the fp32 reference) on the random-weight parity fixtures: these tiny
# models are more sensitive than trained ones (benchmarks/RESULTS.md, "Precision", has the bundled model's).
TOLERANCE = {"fp32": 1e-5, "bf16": 0.05, "int8": 0.15}
FIXTURES = ("uni_bert_default", "biencoder_bert", "uni_deberta_default")
NO_LOW_PRECISION = frozenset({"avx512f", "avx2"})
NATIVE_BF16 = frozenset({"avx512f", "avx512_bf16", "amx_bf16"})


@pytest.fixture
def flags(monkeypatch):
    """Pretend the CPU has the given flags."""
    def set_flags(values: frozenset[str]) -> None:
        monkeypatch.setattr(prec, "cpu_flags", lambda: values)
    return set_flags


def _first_call(name: str):
    expected = load_expected(name)
    call = next(c for c in expected["calls"] if c["kwargs"].get("examples") is None and not c["kwargs"].get("prompt"))
    return call


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_precision_runs_within_tolerance(name: str, precision: str, flags) -> None:
    from uniclass import Classifier

    flags(NATIVE_BF16)
    clf = Classifier.from_pretrained(PARITY / name, device="cpu", precision=precision)
    call = _first_call(name)
    got = clf.scores(call["texts"], call["labels"], multi_label=True, batch_size=4,
                     max_length=call["pipeline_init"]["max_length"])
    reference = Classifier.from_pretrained(PARITY / name, device="cpu").scores(
        call["texts"], call["labels"], multi_label=True, batch_size=4, max_length=call["pipeline_init"]["max_length"])
    diff = max(abs(a - b) for g, r in zip(got, reference) for a, b in zip(g, r))
    assert diff <= TOLERANCE[precision], diff
    assert clf.backend.precision == precision


def test_fp32_is_exact_parity() -> None:
    from uniclass import Classifier

    name = "uni_bert_default"
    call = _first_call(name)
    clf = Classifier.from_pretrained(PARITY / name, device="cpu", precision="fp32")
    got = clf.scores(call["texts"], call["labels"], multi_label=call["kwargs"].get("multi_label", True),
                     batch_size=call["kwargs"]["batch_size"], max_length=call["pipeline_init"]["max_length"])
    assert max(abs(a - b) for g, w in zip(got, call["scores"]) for a, b in zip(g, w)) <= 1e-5


def test_bf16_stores_the_backbone_in_bf16_and_keeps_the_head_fp32(flags) -> None:
    from uniclass import Classifier

    flags(NATIVE_BF16)
    clf = Classifier.from_pretrained(PARITY / "biencoder_bert", device="cpu", precision="bf16")
    backbones = prec.backbones(clf.backend.model)
    assert {name for name, _ in backbones} == {"model.encoder_model", "model.label_encoder"}
    for _, module in backbones:
        assert {p.dtype for p in module.parameters()} == {torch.bfloat16}
    head = [p for n, p in clf.backend.model.named_parameters() if not n.startswith(("model.encoder_model", "model.label_encoder"))]
    assert head and {p.dtype for p in head} == {torch.float32}
    assert clf.backend.input_dtype == torch.float32
    # SDPA, through uniclass' per-sequence CPU attention (backends.cpu_attention)
    assert clf.model.model.encoder_model.config._attn_implementation == "uniclass_cpu_sdpa"
    assert clf.model.model.label_encoder.config._attn_implementation == "uniclass_cpu_sdpa"


def test_bf16_on_the_cpu_fuses_the_backbone_layers(flags) -> None:
    from uniclass import Classifier
    from uniclass.backends.fused import FusedLinear, FusedResidualOutput, fusion_available

    if not fusion_available():
        pytest.skip("oneDNN cannot run bf16 linears here (no mkldnn, or a CPU without AVX-512)")
    flags(NATIVE_BF16)
    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="bf16")
    kinds = {type(m) for m in clf.backend.model.model.encoder_model.modules()}
    assert {FusedLinear, FusedResidualOutput} <= kinds
    assert nn_linears(clf.backend.model.model.encoder_model) == []  # every backbone Linear goes through oneDNN
    plain = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="fp32")
    assert not any(isinstance(m, FusedLinear) for m in plain.backend.model.modules())  # fp32 stays exact


def nn_linears(module: torch.nn.Module) -> list[str]:
    """Plain ``nn.Linear`` layers called directly (a fused residual block's own ``dense`` is called through oneDNN)."""
    from uniclass.backends.fused import FusedResidualOutput

    inside = {id(m.dense) for m in module.modules() if isinstance(m, FusedResidualOutput)}
    return [n for n, m in module.named_modules() if type(m) is torch.nn.Linear and id(m) not in inside]


def test_int8_quantizes_the_layer_linears_only() -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="int8")
    modules = dict(clf.backend.model.named_modules())
    quantized = {n for n, m in modules.items() if isinstance(m, DynamicLinear)}
    assert quantized and all(".layer." in n for n in quantized)
    assert not any("projector" in n or "scorer" in n or "pooler" in n for n in quantized)
    for name in quantized:  # down-projections stay float32
        assert modules[name].weight().shape[1] <= modules[name].weight().shape[0]
    assert any(isinstance(m, torch.nn.Linear) and "output.dense" in n and "attention" not in n for n, m in modules.items())


def test_fp16_on_the_cpu_raises(flags) -> None:
    from uniclass import Classifier

    flags(NO_LOW_PRECISION)
    with pytest.raises(ValueError, match="fp16.*not a fast mode"):
        Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="fp16")
    flags(frozenset({"avx512_fp16", "amx_fp16"}))  # a flag is no fast path in torch: still refused
    with pytest.raises(ValueError, match="bf16"):
        prec.resolve_precision("fp16", torch.device("cpu"))


def test_emulated_bf16_warns(flags) -> None:
    flags(NO_LOW_PRECISION)
    with pytest.warns(UserWarning, match="emulated"):
        assert prec.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    flags(NATIVE_BF16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prec.resolve_precision("bfloat16", torch.device("cpu")) == "bf16"


def test_auto_picks_the_native_fast_mode(flags, monkeypatch) -> None:
    flags(NATIVE_BF16)
    assert prec.resolve_precision("auto", torch.device("cpu")) == "bf16"
    flags(NO_LOW_PRECISION)
    assert prec.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert prec.resolve_precision(None, torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert prec.resolve_precision("auto", torch.device("cuda")) == "fp16"
    with pytest.raises(ValueError, match="no native bf16"):
        prec.resolve_precision("bf16", torch.device("cuda"))
    assert prec.resolve_precision("fp16", torch.device("cuda")) == "fp16"


def test_bad_combinations_raise() -> None:
    from uniclass import Classifier
    from uniclass.loading import onnx_quantized

    with pytest.raises(ValueError, match="precision must be one of"):
        prec.resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ValueError, match="CPU only"):
        prec.resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="not both"):
        Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="int8", dtype="float16")
    assert onnx_quantized("int8", False) is True and onnx_quantized(None, False) is False
    assert onnx_quantized("fp32", True) is True
    with pytest.raises(ValueError, match="float32 or int8 graphs"):
        onnx_quantized("bf16", False)


def test_cpu_native_reads_flags() -> None:
    assert prec.cpu_native("bf16", frozenset({"amx_bf16"})) is True
    assert prec.cpu_native("fp16", frozenset({"avx512_bf16"})) is False
    assert prec.cpu_native("bf16", frozenset()) is None
    assert prec.cpu_native("int8", frozenset()) is True


def test_cli_precision_option() -> None:
    from uniclass.cli import _build_parser as build_parser
    from uniclass.commands._options import backend_options

    parser = build_parser()
    args = parser.parse_args(["classify", "some text", "--labels", "a,b", "--precision", "bf16"])
    assert backend_options(args) == {"backend": None, "precision": "bf16"}
    args = parser.parse_args(["serve", "--precision", "int8"])
    assert backend_options(args)["precision"] == "int8"
    assert "precision" not in backend_options(parser.parse_args(["serve"]))


def test_a_fast_mode_is_inference_only(tmp_path, flags) -> None:
    from uniclass import Classifier

    flags(NATIVE_BF16)
    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", precision="bf16")
    with pytest.raises(ValueError, match="inference-only"):
        clf.save_pretrained(tmp_path / "out")


def test_batch_predictor_takes_a_precision(flags) -> None:
    """The Predictor (and so the Ray job, which builds one per actor) loads its model in the given precision."""
    import numpy as np

    from uniclass.integrations.predictor import Predictor

    flags(NATIVE_BF16)
    predictor = Predictor(PARITY / "uni_bert_default", ["sports", "finance"], device="cpu", precision="bf16")
    out = predictor({"text": np.array(["The striker scored", "Stocks fell"], dtype=object)})
    assert len(out["label"]) == 2
    assert predictor._classifier.backend.precision == "bf16"
