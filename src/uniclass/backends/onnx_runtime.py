"""The ONNX Runtime backend: exported GLiClass graphs run with numpy and onnxruntime only (no torch).

An export folder (written by ``uniclass.exporters.onnx.export_onnx``) holds::

    config.json              the GLiClass config (read here without transformers)
    tokenizer.json ...       the fast tokenizer (label_tokenizer/ for bi-encoders)
    model.onnx               logits [B, K] from input_ids, attention_mask, slot_mask (+ label_vectors)
    label_encoder.onnx       bi-encoders: label vectors [N, D] from label token ids
    model_int8.onnx ...      optional int8 dynamic quantization of each graph
    onnx_parity.json         reference inputs and torch logits, and the measured differences
    prior.json, prior/       checkpoints with an embedding-similarity prior: prior/embedder.onnx + its tokenizer

Every axis is dynamic: batch, sequence and label count (the label count comes from the ``slot_mask`` input,
``[B, K]``, not from a constant baked into the graph).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import (
    CALIBRATOR_FILE,
    EMBEDDER_FILE,
    LABEL_ENCODER_FILE,
    MODEL_FILE,
    PARITY_FILE,
    Checkpoint,
    graph_file,
)
from . import check_num_threads, slot_mask

VECTOR_OUTPUTS = ("logits", "text_vectors", "scored_label_vectors")  # model.onnx outputs when it has a calibrator


class OnnxBackend:
    """Runs the graphs of an export folder on onnxruntime.

    Args:
        folder: the export folder.
        config: its ``GLiClassConfig``.
        quantized: use the int8 graphs (``export_onnx(..., quantize=True)``).
        num_threads: ``SessionOptions.intra_op_num_threads`` (per session; default: onnxruntime's choice).
        providers: onnxruntime execution providers (default: CPU).

    Example:
        >>> from uniclass import Classifier
        >>> clf = Classifier.from_pretrained("exported/", backend="onnx", num_threads=2)  # doctest: +SKIP
        >>> clf.backend.run(batch).shape  # doctest: +SKIP
        (4, 5)
    """

    name = "onnx"
    device = "cpu"

    def __init__(
        self,
        folder: str | Path,
        config: Any,
        *,
        quantized: bool = False,
        num_threads: int | None = None,
        providers: list[str] | None = None,
    ):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(f"backend='onnx' needs onnxruntime: pip install 'uniclass[onnx]' ({err})") from err
        if num_threads is not None:
            check_num_threads(num_threads)
        self.folder = Path(folder)
        self.config = config
        self.quantized = quantized
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        providers = providers or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self._graph(MODEL_FILE)), options, providers=providers)
        self.label_session = None
        if config.is_bi_encoder:
            self.label_session = ort.InferenceSession(
                str(self._graph(LABEL_ENCODER_FILE)), options, providers=providers
            )
        self._inputs = [i.name for i in self.session.get_inputs()]
        self.calibrator_session = None
        if getattr(config, "use_calibrator", False):
            path = self.folder / CALIBRATOR_FILE
            if not path.is_file():
                raise FileNotFoundError(
                    f"{self.folder} has no {CALIBRATOR_FILE} but config.json has use_calibrator: re-export it"
                )
            self.calibrator_session = ort.InferenceSession(str(path), options, providers=providers)

    def _graph(self, name: str) -> Path:
        path = self.folder / graph_file(name, quantized=self.quantized)
        if not path.is_file():
            hint = " (export with --quantize)" if self.quantized else ""
            raise FileNotFoundError(f"{self.folder} has no {path.name}{hint}: not a uniclass ONNX export folder")
        return path

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        if "position_ids" in batch and "position_ids" not in self._inputs:
            # silently dropping them would return order-dependent scores under label_order="positions"
            raise ValueError(
                "this ONNX graph has no position_ids input: use label_order='permutations' with backend='onnx'"
            )
        counts = batch["slot_counts"]
        width = batch["label_vectors"].shape[1] if "label_vectors" in batch else None
        return self.run_graph({**batch, "slot_mask": slot_mask(counts, width)})

    def run_graph(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Logits for the graph's own inputs (``slot_mask`` instead of ``slot_counts``); extra keys are ignored."""
        missing = [name for name in self._inputs if name not in feeds]
        if missing:
            raise ValueError(f"the ONNX graph needs inputs {missing} that this batch does not have")
        return self.session.run(None, {name: feeds[name] for name in self._inputs})[0]

    # ------------------------------------------------------------------ learned calibrator
    @property
    def has_calibrator(self) -> bool:
        return self.calibrator_session is not None

    def run_representations(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(logits, text vectors, label vectors)``: the graph's three outputs (see ``TorchBackend``)."""
        counts = batch["slot_counts"]
        width = batch["label_vectors"].shape[1] if "label_vectors" in batch else None
        feeds = {**batch, "slot_mask": slot_mask(counts, width)}
        logits, text, labels = self.session.run(list(VECTOR_OUTPUTS), {name: feeds[name] for name in self._inputs})
        return logits, text, labels

    def calibrate(
        self, text: np.ndarray, labels: np.ndarray, logits: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        feeds = {"text_vectors": text, "scored_label_vectors": labels, "logits": logits, "label_mask": mask}
        if self.calibrator_session is None:
            raise RuntimeError("this export has no learned calibrator graph (see has_calibrator)")
        beta, bias = self.calibrator_session.run(None, feeds)
        return beta, bias

    def encode_labels(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.label_session is None:
            raise ValueError(f"{self.config.architecture_type} has no label encoder")
        feeds = {"label_input_ids": input_ids, "label_attention_mask": attention_mask}
        return self.label_session.run(None, feeds)[0]


def verify_export(folder: str | Path, *, quantized: bool = False, num_threads: int | None = 1) -> dict[str, Any]:
    """Run the reference inputs of ``onnx_parity.json`` through the graphs and compare with the stored torch logits.

    Needs only numpy and onnxruntime, so an export can be re-checked where it is deployed. Only real label slots
    are compared (padded slots carry no score). Bi-encoders are checked end to end: the label vectors come from
    ``label_encoder.onnx`` and are then fed to ``model.onnx``.

    Returns:
        ``{"summary": {"max_abs_logit_diff", "max_abs_score_diff", "max_abs_label_vector_diff", "quantized"},
        "logits": [per reference batch, the real-slot logits, flattened]}``.

    Example:
        >>> verify_export("exported/")["summary"]["max_abs_logit_diff"] < 1e-4  # doctest: +SKIP
        True
    """
    folder = Path(folder)
    checkpoint = Checkpoint(folder)
    reference = checkpoint.read_json(PARITY_FILE)["reference"]
    config = checkpoint.read_config(plain_backbones=True)
    backend = OnnxBackend(folder, config, quantized=quantized, num_threads=num_threads)
    label_vectors, label_diff = None, None
    if "label_inputs" in reference:
        inputs = {k: np.asarray(v, dtype=np.int64) for k, v in reference["label_inputs"].items()}
        label_vectors = backend.encode_labels(inputs["label_input_ids"], inputs["label_attention_mask"])
        label_diff = float(np.abs(label_vectors - np.asarray(reference["label_vectors"], dtype=np.float32)).max())
    got_all, worst_logit, worst_score = [], 0.0, 0.0
    for batch in reference["batches"]:
        feeds = {name: np.asarray(value, dtype=np.int64) for name, value in batch["inputs"].items()}
        if label_vectors is not None:
            index = np.asarray(batch["label_index"], dtype=np.int64)
            gathered = label_vectors[index.clip(min=0)] * (index >= 0)[..., None]
            feeds["label_vectors"] = gathered.astype(np.float32)
        logits = backend.run_graph(feeds)
        want = np.asarray(batch["logits"], dtype=np.float64)
        got = np.concatenate([logits[row, :n] for row, n in enumerate(batch["num_labels"])]).astype(np.float64)
        expected = np.concatenate([want[row, :n] for row, n in enumerate(batch["num_labels"])])
        worst_logit = max(worst_logit, float(np.abs(got - expected).max()))
        worst_score = max(worst_score, float(np.abs(_sigmoid(got) - _sigmoid(expected)).max()))
        got_all.append(got)
    summary = {
        "max_abs_logit_diff": worst_logit,
        "max_abs_score_diff": worst_score,
        "max_abs_label_vector_diff": label_diff,
        "quantized": quantized,
    }
    return {"summary": summary, "logits": got_all}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class OnnxEmbedder:
    """The torch-free twin of ``backends.embedding.SentenceEmbedder``: ``embedder.onnx`` (mean-pooled, L2-normalised
    sentence embeddings, exported by ``exporters.onnx``) with ``tokenizer.json`` from the same folder."""

    def __init__(self, folder: str | Path, *, max_length: int = 256, num_threads: int | None = None):
        import onnxruntime as ort

        from .tokenizer import FastTokenizer

        self.folder = Path(folder)
        if not (self.folder / EMBEDDER_FILE).is_file():
            raise FileNotFoundError(f"{self.folder} has no {EMBEDDER_FILE}")
        self.tokenizer = FastTokenizer.from_folder(self.folder)
        options = ort.SessionOptions()
        if num_threads is not None:
            check_num_threads(num_threads)
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.folder / EMBEDDER_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.max_length = max_length
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids with special tokens, cut as transformers' ``truncation=True`` cuts one sequence (last id kept)."""
        ids = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        return [row if len(row) <= self.max_length else [*row[: self.max_length - 1], row[-1]] for row in ids]

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        from ..batching import pad_ids

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            input_ids, mask = pad_ids(self.tokenize([texts[i] for i in idx]), pad)
            out[idx] = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        return out
