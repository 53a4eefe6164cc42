"""Export a GLiClass model to ONNX, check it against torch, and optionally quantize it to int8.

What is exported:

* uni-encoder (every option: poolings, scorers, ``extract_text_features``, ``class_token_pooling``,
  ``embed_class_token``, LSTM, segment embeddings, ``normalize_features``, ``encoder_layer_id``...) and the
  encoder-decoder families: one graph, ``model.onnx``: ``input_ids``, ``attention_mask`` ``[B, L]`` and
  ``slot_mask`` ``[B, K]`` (plus ``class_input_ids``/``class_attention_mask`` for encoder-decoders) ->
  ``logits`` ``[B, K]``. The label count K comes from the ``slot_mask`` input, so batch, sequence and label
  axes are all dynamic (the official exports bake in 25 labels).
* bi-encoder and bi-encoder-fused: two graphs, so label vectors can be computed once and cached:
  ``label_encoder.onnx`` (``label_input_ids``, ``label_attention_mask`` -> ``label_vectors`` ``[N, D]``) and
  ``model.onnx`` (``input_ids``, ``attention_mask``, ``label_vectors`` ``[B, K, D]``, ``slot_mask`` -> logits).

Exporter: torch 2.13 still ships the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) and it
is the default here. It exports every option and backbone the tests cover (packed-sequence LSTM becomes an ONNX
``LSTM`` with ``sequence_lens``; T5 works) in well under a second for tiny models. The dynamo exporter
(``exporter="dynamo"``) produces equally correct dynamic graphs for BERT/DeBERTa/ModernBERT/MPNet, but fails on
the packed LSTM and on T5, and takes 5-15 s per tiny graph. Either way the graph is traced on one input shape
and then checked on reference batches of *other* shapes (batch, length, label count, padded label slots), so a
constant baked in by tracing fails the check instead of shipping.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from ..backends import slot_mask
from ..backends.embedding import save_prototypes, save_reference
from ..backends.onnx_runtime import VECTOR_OUTPUTS, OnnxEmbedder, verify_export
from ..backends.torch_backend import TorchBackend
from ..checkpoint import (
    CALIBRATOR_FILE,
    EMBEDDER_FILE,
    LABEL_ENCODER_FILE,
    LABEL_TOKENIZER_DIR,
    MODEL_FILE,
    PARITY_FILE,
    PRIOR_DIR,
    TOKENIZER_FILE,
    Checkpoint,
    graph_file,
)
from ..config import GLiClassConfig
from ..engine import Engine, resolve_max_length
from ..loading import load_torch, resolve_checkpoint
from ..modeling.bi_encoder import BiEncoder
from ..modeling.lora import has_lora, merged_copy
from ..processing import WindowPolicy, normalize_request

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.embedding import EmbeddingPrior
    from ..classifier import Classifier

FP32_TOLERANCE = 1e-4  # max |Δlogit| allowed between torch and the fp32 ONNX graph
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}

_HOSPITAL = (
    "A long report on the new hospital wing describes the funding, the delays, the patients who waited, the nurses "
    "who worked double shifts and the minister who promised it would open on time."
)
# Reference inputs: texts of very different lengths (an empty one too), label sets of different sizes in one
# batch (so rows have padded label slots), a prompt, and batch sizes 3, 2 and 1.
_REFERENCE_ITEMS: list[tuple[str, list[str], str]] = [
    ("The striker scored twice in the last ten minutes of the derby.", ["sports", "finance", "politics"], ""),
    (
        (
            "Shares fell five percent after the earnings call, and analysts cut their targets for the rest of "
            "the year while the central bank kept interest rates unchanged."
        ),
        ["sports", "business and finance", "science", "health care", "question", "weather", "politics"],
        "",
    ),
    ("ok", ["positive"], ""),
    (
        " ".join([_HOSPITAL] * 2),
        ["health care", "politics", "finance", "local news", "opinion"],
        "Classify the news article:",
    ),
    ("", ["empty", "not empty"], ""),
    ("Is the battery life any good on this phone?", ["question", "review", "battery", "camera"], ""),
]
_REFERENCE_BATCHES = ((0, 1, 2), (3, 4), (5,))
_TRACE_ITEMS: list[tuple[str, list[str], str]] = [
    ("Tracing example text number one.", ["alpha", "beta"], ""),
    ("A second, somewhat longer tracing example text.", ["gamma", "delta"], ""),
]


class OnnxParityError(RuntimeError):
    """The exported fp32 graph does not reproduce the torch logits within ``FP32_TOLERANCE``."""


def export_onnx(
    model: str | Path | Classifier,
    out_dir: str | Path,
    *,
    quantize: bool = False,
    opset: int | None = None,
    check: bool = True,
    exporter: str = "torchscript",
) -> Path:
    """Export a GLiClass model to an ONNX folder that ``Classifier.from_pretrained(out_dir, backend="onnx")`` loads.

    The folder holds ``config.json``, the tokenizer files (``tokenizer.json``; ``label_tokenizer/`` for
    bi-encoders), ``calibration.json`` if any, the graph(s) and ``onnx_parity.json``: reference input ids and
    the torch logits for them. After the export, onnxruntime runs those inputs and the measured max |Δlogit|
    is written to the parity file; with ``check=True`` an export whose fp32 graph differs from torch by more
    than 1e-4 raises ``OnnxParityError``.

    Args:
        model: a checkpoint folder / hub id, or a loaded torch ``Classifier`` (its weights are copied to float32
            on the CPU; LoRA adapters are merged into the copy).
        out_dir: the export folder (created; existing files of the same names are replaced).
        quantize: also write int8 graphs (``onnxruntime.quantization.quantize_dynamic``, weights int8 per
            channel, activations quantized on the fly) as ``model_int8.onnx`` (and ``label_encoder_int8.onnx``); their
            max |Δscore| against fp32 on the reference inputs is recorded, never enforced: int8 can hurt
            accuracy (badly for DeBERTa-based models), so measure it on your data before using it.
        opset: ONNX opset (default 17; 18 with ``exporter="dynamo"``).
        check: raise when the fp32 parity check fails (the parity file is written either way).
        exporter: ``"torchscript"`` (default, ``dynamo=False``) or ``"dynamo"``.

    Returns:
        The export folder.

    Example:
        >>> from uniclass.exporters.onnx import export_onnx
        >>> fixture = "tests/fixtures/parity/uni_bert_default"
        >>> out = export_onnx(fixture, "/tmp/uni-onnx", quantize=True)  # doctest: +SKIP
        >>> from uniclass import Classifier
        >>> clf = Classifier.from_pretrained(out, backend="onnx")  # doctest: +SKIP
        >>> clf.scores("The striker scored", ["sports", "finance"])  # doctest: +SKIP
        [0.62, 0.48]
    """
    if exporter not in DEFAULT_OPSET:
        raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    opset = opset or DEFAULT_OPSET[exporter]
    engine = _float_cpu_engine(model)
    config = engine.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_companion_files(engine, out)

    reference = _reference(engine, _REFERENCE_ITEMS, _REFERENCE_BATCHES)
    trace = _reference(engine, _TRACE_ITEMS, ((0, 1),))
    torch_model = cast(TorchBackend, engine.backend).model  # _float_cpu_engine always builds a torch backend
    network = torch_model.model
    files = {"model": MODEL_FILE}
    calibrator = torch_model.calibrator
    with_vectors = calibrator is not None
    _export_graph(
        _LogitsGraph(network, _logit_inputs(config), with_vectors),
        trace["batches"][0]["feeds"],
        out / MODEL_FILE,
        opset,
        exporter,
    )
    if calibrator is not None:
        # the learned calibrator runs as its own small fp32 graph on the model graph's extra outputs (kept out of
        # ``files``: never quantized)
        _export_calibrator(calibrator, config.encoder_hidden_size, out / CALIBRATOR_FILE, opset)
    if config.is_bi_encoder:
        files["label_encoder"] = LABEL_ENCODER_FILE
        _export_graph(
            _LabelEncoderGraph(cast(BiEncoder, network)),
            trace["label_feeds"],
            out / LABEL_ENCODER_FILE,
            opset,
            exporter,
        )

    parity = _parity_document(engine, reference, files, opset, exporter)
    if engine.prior is not None:
        parity["prior"] = _export_prior(engine.prior, out, opset, exporter)
    _write_json(out / PARITY_FILE, parity)
    fp32 = verify_export(out)
    parity["fp32"] = fp32["summary"]
    if quantize:
        parity["int8"] = _quantize(out, files, fp32)
    _write_json(out / PARITY_FILE, parity)
    prior_diff = parity.get("prior", {}).get("max_abs_diff", 0.0)
    if check and prior_diff > FP32_TOLERANCE:
        raise OnnxParityError(
            f"{out / PRIOR_DIR / EMBEDDER_FILE}: the prior's embedder differs from torch by {prior_diff:.3g}"
        )
    if check and fp32["summary"]["max_abs_logit_diff"] > FP32_TOLERANCE:
        raise OnnxParityError(
            f"{out / MODEL_FILE}: the fp32 ONNX graph differs from torch by max |Δlogit| = "
            f"{fp32['summary']['max_abs_logit_diff']:.3g} > {FP32_TOLERANCE} on the reference inputs "
            f"(details in {out / PARITY_FILE}); do not use this export"
        )
    return out


# ====================================================================== model preparation
def _float_cpu_engine(model: str | Path | Classifier | Engine) -> Engine:
    """A float32 CPU copy of the model's engine (the caller's model is left untouched).

    Works on the engine (``loading`` + ``engine``), not on the ``Classifier`` API, so the exporters sit beside
    the classifier rather than on top of it: a loaded ``Classifier`` is read through its public ``engine``.
    """
    if isinstance(model, (str, Path)):
        parts = load_torch(resolve_checkpoint(model), device="cpu")
        backend, tokenizer, label_tokenizer, calibration = (
            parts.backend,
            parts.tokenizer,
            parts.label_tokenizer,
            parts.calibration,
        )
        max_length = resolve_max_length(backend.config, None)
    else:
        source = cast(Engine, getattr(model, "engine", model))  # a Classifier's engine, or an Engine
        backend, tokenizer, label_tokenizer, calibration = (
            source.backend,
            source.tokenizer,
            source.label_tokenizer,
            source.calibration,
        )
        max_length = source.max_length
    if backend.name != "torch":
        raise ValueError("export_onnx needs a torch Classifier (this one already runs ONNX graphs)")
    torch_model = cast(TorchBackend, backend).model  # the backend named "torch"
    network = merged_copy(torch_model) if has_lora(torch_model) else copy.deepcopy(torch_model)
    network = network.to(device="cpu", dtype=torch.float32).eval()
    prior = parts.prior if isinstance(model, (str, Path)) else source.prior
    return Engine(
        TorchBackend(network), tokenizer, label_tokenizer, max_length=max_length, calibration=calibration, prior=prior
    )


def _write_companion_files(engine: Engine, out: Path) -> None:
    """config.json (dtype float32), tokenizer files (tokenizer.json required), calibration."""
    checkpoint = Checkpoint(out)
    config = copy.copy(engine.config)
    config.extra = {**engine.config.extra, "dtype": "float32"}
    checkpoint.write_config(config)
    engine.tokenizer.save_pretrained(str(out))
    _require_tokenizer_json(out)
    if engine.label_tokenizer is not None:
        engine.label_tokenizer.save_pretrained(str(checkpoint.path(LABEL_TOKENIZER_DIR)))
        _require_tokenizer_json(checkpoint.path(LABEL_TOKENIZER_DIR))
    if engine.calibration is not None:
        checkpoint.write_calibration(engine.calibration)


def _export_prior(prior: EmbeddingPrior, out: Path, opset: int, exporter: str) -> dict[str, Any]:
    """``prior/embedder.onnx`` (+ tokenizer and config) and a ``prior.json`` pointing at it; returns its parity.

    The embedder graph maps ``input_ids``/``attention_mask`` to unit vectors (``SentenceEmbedder``'s pooling), so the
    ONNX backend adds the same prior without torch. Parity: torch vs ONNX embeddings of the reference texts.
    """
    folder = out / PRIOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    embedder = prior.embedder
    network = copy.deepcopy(embedder.model).to(device="cpu", dtype=torch.float32).eval()
    texts = [text for text, _, _ in _REFERENCE_ITEMS]
    batch = embedder.tokenizer(
        texts, padding=True, truncation=True, max_length=embedder.max_length, return_tensors="np"
    )
    feeds = {
        "input_ids": batch["input_ids"].astype(np.int64),
        "attention_mask": batch["attention_mask"].astype(np.int64),
    }
    graph = _EmbedderGraph(network)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        args = tuple(torch.from_numpy(feeds[name]) for name in _EmbedderGraph.input_names)
        axes = {
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "embeddings": {0: "batch"},
        }
        torch.onnx.export(
            graph,
            args,
            str(folder / EMBEDDER_FILE),
            dynamo=False,
            input_names=list(_EmbedderGraph.input_names),
            output_names=["embeddings"],
            dynamic_axes=axes,
            opset_version=min(opset, 17),
            do_constant_folding=True,
        )
    embedder.tokenizer.save_pretrained(str(folder))
    _require_tokenizer_json(folder)
    network.config.save_pretrained(str(folder))
    spec = prior.spec
    replace(spec, backbone={"folder": PRIOR_DIR}, max_length=embedder.max_length).save(out)
    if spec.reference is not None:  # the per-label reference statistics travel with the export
        save_reference(*prior.reference(), out, spec.reference)
    if prior.prototypes:  # few-shot label prototypes (Classifier.fit) travel with the export
        save_prototypes(prior.prototypes, out)
    reference = embedder.embed(texts)
    got = OnnxEmbedder(folder, max_length=embedder.max_length, num_threads=1).embed(texts)
    # the ONNX path users run (tokenizers-only tokenisation included) against the torch embedder
    return {
        "file": f"{PRIOR_DIR}/{EMBEDDER_FILE}",
        "reference_texts": len(texts),
        "max_abs_diff": float(np.abs(got - reference).max()),
    }


class _EmbedderGraph(nn.Module):
    """``prior/embedder.onnx``: mean-pooled, L2-normalised sentence embeddings (``SentenceEmbedder.embed``)."""

    input_names = ("input_ids", "attention_mask")

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.network(input_ids=input_ids, attention_mask=attention_mask)[0].float()
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)


def _require_tokenizer_json(folder: Path) -> None:
    if not (folder / TOKENIZER_FILE).is_file():
        raise ValueError(
            f"the tokenizer saved to {folder} has no tokenizer.json (not a fast tokenizer): the ONNX backend "
            "tokenizes with the tokenizers library from that file"
        )


# ====================================================================== graphs
def _logit_inputs(config: GLiClassConfig) -> list[str]:
    names = ["input_ids", "attention_mask"]
    if config.is_bi_encoder:
        names.append("label_vectors")
    if config.is_encoder_decoder:
        names += ["class_input_ids", "class_attention_mask"]
    return [*names, "slot_mask"]


class _LogitsGraph(nn.Module):
    """``model.onnx``: the network's forward pass with the label count taken from the ``slot_mask`` input.

    ``with_vectors`` (models with a learned calibrator): also outputs the text and label vectors the calibrator
    reads (``text_vectors``, ``scored_label_vectors``), after ``logits``.
    """

    def __init__(self, network: nn.Module, input_names: list[str], with_vectors: bool = False):
        super().__init__()
        self.network = network
        self.input_names = input_names
        self.output_names = list(VECTOR_OUTPUTS) if with_vectors else ["logits"]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        feeds = dict(zip(self.input_names, inputs, strict=True))
        if len(self.output_names) > 1:
            return self.network(**feeds, return_representations=True)
        return self.network(**feeds)


class _CalibratorGraph(nn.Module):
    """``calibrator.onnx``: the learned calibrator, ``(text, labels, logits, mask) -> (beta, bias)``."""

    input_names = ("text_vectors", "scored_label_vectors", "logits", "label_mask")

    def __init__(self, calibrator: nn.Module):
        super().__init__()
        self.calibrator = calibrator

    def forward(
        self, text: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.calibrator(text, labels, logits, mask)


def _export_calibrator(calibrator: nn.Module, dim: int, path: Path, opset: int) -> None:
    graph = _CalibratorGraph(calibrator).eval()
    args = (torch.randn(2, dim), torch.randn(2, 3, dim), torch.randn(2, 3), torch.ones(2, 3, dtype=torch.int64))
    axes = {
        "text_vectors": {0: "batch"},
        "scored_label_vectors": {0: "batch", 1: "labels"},
        "logits": {0: "batch", 1: "labels"},
        "label_mask": {0: "batch", 1: "labels"},
        "beta": {0: "batch", 1: "labels"},
        "bias": {0: "batch", 1: "labels"},
    }
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            args,
            str(path),
            dynamo=False,
            input_names=list(graph.input_names),
            output_names=["beta", "bias"],
            dynamic_axes=axes,
            opset_version=min(opset, 17),
            do_constant_folding=True,
        )


class _LabelEncoderGraph(nn.Module):
    """``label_encoder.onnx``: bi-encoder label vectors, one row per label (rows are independent)."""

    input_names = ("label_input_ids", "label_attention_mask")

    def __init__(self, network: BiEncoder):
        super().__init__()
        self.network = network

    def forward(self, label_input_ids: torch.Tensor, label_attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network.encode_labels(label_input_ids, label_attention_mask)


_AXES = {
    "input_ids": ("batch", "sequence"),
    "attention_mask": ("batch", "sequence"),
    "class_input_ids": ("batch", "label_sequence"),
    "class_attention_mask": ("batch", "label_sequence"),
    "slot_mask": ("batch", "labels"),
    "label_vectors": ("batch", "labels", None),
    "label_input_ids": ("num_labels", "label_sequence"),
    "label_attention_mask": ("num_labels", "label_sequence"),
    "logits": ("batch", "labels"),
    "text_vectors": ("batch", None),
    "scored_label_vectors": ("batch", "labels", None),
}


def _named_axes(name: str) -> dict[int, str]:
    """The dynamic axes of input or output ``name``: position -> axis name (``None`` in ``_AXES``: a fixed axis)."""
    return {i: axis for i, axis in enumerate(_AXES[name]) if axis}


def _export_graph(
    graph: _LogitsGraph | _LabelEncoderGraph, feeds: dict[str, np.ndarray], path: Path, opset: int, exporter: str
) -> None:
    """Trace ``graph`` on ``feeds`` and write an ONNX file whose named axes are all dynamic."""
    names = list(graph.input_names)
    args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in names)
    outputs = ["label_vectors"] if isinstance(graph, _LabelEncoderGraph) else graph.output_names
    axes = {name: _named_axes(name) for name in [*names, *outputs]}
    if outputs == ["label_vectors"]:
        axes["label_vectors"] = {0: "num_labels"}
    graph.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes: the parity check is the real test
        if exporter == "dynamo":
            dims: dict[str, Any] = {}
            shapes = {
                name: {i: dims.setdefault(axis, torch.export.Dim(axis)) for i, axis in axis_map.items()}
                for name, axis_map in axes.items()
                if name in names
            }
            spec: tuple[Any, ...] = tuple(shapes[name] for name in names)
            if isinstance(graph, _LogitsGraph):
                spec = (spec,)  # forward(*inputs): one variadic argument holding every input
            torch.onnx.export(
                graph,
                args,
                str(path),
                dynamo=True,
                input_names=names,
                output_names=outputs,
                dynamic_shapes=spec,
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        else:
            torch.onnx.export(
                graph,
                args,
                str(path),
                dynamo=False,
                input_names=names,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
            )


# ====================================================================== reference inputs
def _reference(
    engine: Engine, items: list[tuple[str, list[str], str]], batches: tuple[tuple[int, ...], ...]
) -> dict[str, Any]:
    """Collated numpy feeds for ``items`` grouped as ``batches``, with the torch logits of each batch.

    Bi-encoders also get the label encoder inputs (every distinct label once) and, per batch, ``label_index``
    ``[B, K]`` (rows into the label list, -1 for padding), so the ONNX side can assemble ``label_vectors``
    from its own label encoder output.
    """
    texts, labels, prompts = (list(column) for column in zip(*items, strict=True))
    request = normalize_request(texts, labels, prompt=prompts)
    plans = engine.plan(request, WindowPolicy(engine.max_length))
    segments = [plan.segments[0] for plan in plans]  # the reference texts fit one window with all their labels
    bi_encoder = engine.config.is_bi_encoder
    out: dict[str, Any] = {"batches": []}
    label_list: list[str] = []
    if bi_encoder:
        label_list = sorted({label for group in labels for label in group})
        from ..batching import pad_ids
        from ..processing import label_encoder_ids

        ids = label_encoder_ids(engine.label_tokenizer, engine.config, label_list)
        label_ids, label_mask = pad_ids(ids, engine.label_tokenizer.pad_token_id or 0)
        out["labels"] = label_list
        out["label_feeds"] = {"label_input_ids": label_ids, "label_attention_mask": label_mask}
        out["label_vectors"] = engine.backend.encode_labels(label_ids, label_mask)
        engine.label_cache.clear()
        engine.cache_label_vectors(set(label_list), len(label_list))
    for batch in batches:
        rows = [segments[i] for i in batch]
        collated = engine.collate(rows)
        logits = engine.backend.run(collated)
        feeds = {name: value for name, value in collated.items() if name != "slot_counts"}
        feeds["slot_mask"] = slot_mask(collated["slot_counts"], logits.shape[1])
        entry = {"feeds": feeds, "num_labels": [len(r.labels) for r in rows], "logits": logits}
        if bi_encoder:
            index = np.full(feeds["slot_mask"].shape, -1, dtype=np.int64)
            for i, r in enumerate(rows):
                index[i, : len(r.labels)] = [label_list.index(label) for label in r.labels]
            entry["label_index"] = index
        out["batches"].append(entry)
    return out


def _parity_document(
    engine: Engine, reference: dict[str, Any], files: dict[str, str], opset: int, exporter: str
) -> dict[str, Any]:
    import onnxruntime

    batches = []
    for entry in reference["batches"]:
        inputs = {name: value.tolist() for name, value in entry["feeds"].items() if name != "label_vectors"}
        record = {"inputs": inputs, "num_labels": entry["num_labels"], "logits": entry["logits"].tolist()}
        if "label_index" in entry:
            record["label_index"] = entry["label_index"].tolist()
        batches.append(record)
    document: dict[str, Any] = {
        "format": 1,
        "architecture_type": engine.config.architecture_type,
        "graphs": files,
        "inputs": _logit_inputs(engine.config),
        "exporter": exporter,
        "opset": opset,
        "torch_version": torch.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "tolerance_fp32_logits": FP32_TOLERANCE,
        "reference": {"batches": batches},
    }
    if "label_feeds" in reference:
        document["reference"]["labels"] = reference["labels"]
        document["reference"]["label_inputs"] = {k: v.tolist() for k, v in reference["label_feeds"].items()}
        document["reference"]["label_vectors"] = reference["label_vectors"].tolist()
    return document


# ====================================================================== int8
def _quantize(out: Path, files: dict[str, str], fp32: dict[str, Any]) -> dict[str, Any]:
    """Write int8 graphs next to the fp32 ones and measure how far they move logits and scores."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    written = {}
    with _without_preprocessing_hint():
        for key, name in files.items():
            target = graph_file(name, quantized=True)
            quantize_dynamic(str(out / name), str(out / target), weight_type=QuantType.QInt8, per_channel=True)
            written[key] = target
    int8 = verify_export(out, quantized=True)
    versus_fp32_logits = max(float(np.abs(a - b).max()) for a, b in zip(int8["logits"], fp32["logits"], strict=True))
    versus_fp32_scores = max(
        float(np.abs(_sigmoid(a) - _sigmoid(b)).max()) for a, b in zip(int8["logits"], fp32["logits"], strict=True)
    )
    return {
        "graphs": written,
        "method": "onnxruntime.quantization.quantize_dynamic: int8 weights per channel, activations per batch",
        "max_abs_score_diff_vs_fp32": versus_fp32_scores,
        "max_abs_logit_diff_vs_fp32": versus_fp32_logits,
        "vs_torch": int8["summary"],
        "note": "measured on the reference inputs only, not enforced; check accuracy on your own data",
    }


@contextlib.contextmanager
def _without_preprocessing_hint() -> Iterator[None]:
    """quantize_dynamic logs a generic "consider pre-processing" warning on the root logger; it does not apply
    here (pre-processing with shape inference did not change the measured error), so keep the output clean."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document) + "\n", encoding="utf-8")
