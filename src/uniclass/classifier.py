"""``Classifier``: load a GLiClass checkpoint, classify texts, save it back in the official layout.

The classifier owns everything but the model stage: validation and input layout (``processing``), batching
(``batching``), and activations/thresholds (``postprocessing``), all numpy + tokenizers. The model stage is a
backend (``backends``): torch (``GLiClassModel``) or ONNX Runtime (an exported folder). This module imports
torch only when a torch backend is built, so ``backend="onnx"`` works without torch installed.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import BACKENDS, Backend
from .batching import check_batch_options, pad_ids, plan_batches
from .config import CLASS_TOKEN, TEXT_TOKEN, GLiClassConfig, max_positions
from .evaluation.calibration import Calibration, calibration_report, fit_temperature, fit_thresholds
from .postprocessing import DEFAULT_THRESHOLD, activate, aggregate_chunks, check_top_k, normalize_thresholds, select
from .processing import InputBuilder, ItemPlan, Request, Segment, WindowPolicy, build_label_tree, normalize_request

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .modeling import GLiClassModel

DEFAULT_MAX_LENGTH = 1024  # the official pipelines' default, capped by what the backbone supports
# The default model ships inside the package (fp16 safetensors; see models/train_default.py and its card).
DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "uniclass-minilm"
LABEL_TOKENIZER_DIR = "label_tokenizer"
_LABEL_CACHE_SIZE = 4096
WEIGHTS_FILE = "model.safetensors"  # = modeling.model.WEIGHTS_FILE (not imported: that module needs torch)
_BI_ENCODERS = ("bi-encoder", "bi-encoder-fused")
_TORCH_MISSING = (
    "torch is not installed. Install the torch backend with pip install 'uniclass[torch]', or run an exported "
    "model without torch: `uniclass export onnx --model M --out DIR` (on a machine with torch), then "
    "Classifier.from_pretrained(DIR, backend='onnx') with pip install 'uniclass[onnx]'."
)


class TorchOnlyError(NotImplementedError, AttributeError):
    """A torch-only feature (``model``, training, LoRA, saving, devices) was used on an ONNX Runtime classifier.

    Also an ``AttributeError``, so ``hasattr(clf, "model")`` is False and ``getattr(clf, "model", None)`` is None
    for an ONNX classifier.
    """


@dataclass
class Prediction:
    """Everything known about one text's result.

    Attributes:
        labels: the text's labels, in the order given.
        scores: one score per label (sigmoid if ``multi_label`` else softmax over the labels).
        logits: the raw model logits, aggregated over chunks.
        multi_label: how ``scores`` were computed.
        text_tokens: tokens of the text; ``text_tokens_used``: how many of them the model saw.
        truncated: the text was cut to fit the window (``long_text="truncate"``).
        chunks: windows the text was split into (``long_text="chunk"``); label_groups: passes the labels
            needed (more than 1 when the label set does not fit one window with the text).
    """

    labels: list[str]
    scores: list[float]
    logits: list[float]
    multi_label: bool
    text_tokens: int
    text_tokens_used: int
    truncated: bool
    chunks: int
    label_groups: int
    label_tree: Any = None  # the hierarchical (dict) labels this text was given, if any


class Classifier:
    """Zero-shot text classifier over any GLiClass checkpoint (official or uniclass-trained).

    Args:
        model: a ``GLiClassModel`` (wrapped in the torch backend) or a backend object (``backends.Backend``).
        tokenizer: the fast tokenizer of the checkpoint (transformers, or ``backends.tokenizer.FastTokenizer``).
        label_tokenizer: bi-encoders: the label encoder's tokenizer.
        max_length: token window (default 1024, capped by the backbone).
        calibration: temperature / thresholds applied to every score.
        max_batch_tokens: default token budget per batch (see ``predict``).

    Example:
        >>> from uniclass import Classifier
        >>> clf = Classifier.from_pretrained("tests/fixtures/parity/uni_bert_default")  # doctest: +SKIP
        >>> clf.classify("The team won the final", ["sports", "politics"], threshold=0.0)  # doctest: +SKIP
        [{'label': 'sports', 'score': 0.97}, {'label': 'politics', 'score': 0.41}]
    """

    def __init__(
        self,
        model: GLiClassModel | Backend,
        tokenizer: Any,
        label_tokenizer: Any = None,
        *,
        max_length: int | None = None,
        calibration: Calibration | None = None,
        max_batch_tokens: int | None = None,
    ):
        self.backend: Backend = model if _is_backend(model) else _torch_backend(model)
        self.calibration = calibration
        self.tokenizer = tokenizer
        self.label_tokenizer = label_tokenizer
        self.config: GLiClassConfig = self.backend.config
        self.max_length = self._resolve_max_length(max_length)
        check_batch_options(1, max_batch_tokens)
        self.max_batch_tokens = max_batch_tokens
        self._builder = InputBuilder(self.config, tokenizer, label_tokenizer)
        self._label_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # bi-encoders: label -> vector [D]
        self._check_tokenizer()

    @property
    def model(self) -> GLiClassModel:
        """The torch ``GLiClassModel`` (torch backend only: an ONNX classifier has graphs, not a torch model)."""
        return self._require_torch("clf.model").model

    @model.setter
    def model(self, model: GLiClassModel) -> None:
        self._require_torch("setting clf.model").model = model
        self._model_changed()

    def _require_torch(self, what: str) -> Any:
        if self.backend.name != "torch":
            raise TorchOnlyError(
                f"{what} needs the torch backend; this Classifier runs exported graphs on {self.backend.name} "
                "(inference only: predict, scores, classify, calibrate). Load the torch checkpoint with "
                "Classifier.from_pretrained(path) for training, LoRA, saving or moving devices."
            )
        return self.backend

    # ================================================================== loading and saving
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path | None = None,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        revision: str | None = None,
        token: str | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        backend: str | None = None,
        quantized: bool = False,
        num_threads: int | None = None,
        compile: bool = False,
        max_batch_tokens: int | None = None,
    ) -> Classifier:
        """Load a checkpoint folder (official GLiClass layout) or a Hugging Face Hub id.

        Args:
            model_name_or_path: a folder with ``config.json``, ``model.safetensors`` and tokenizer files, or a
                hub id (downloaded with ``huggingface_hub`` when online); ``None`` loads the default model
                bundled with uniclass (offline). With ``backend="onnx"``: a folder written by
                ``uniclass export onnx`` (or a hub repo holding one).
            device: ``"auto"`` (CUDA, then MPS, then CPU), or any torch device (torch backend).
            dtype: weights dtype, e.g. ``"float16"``; default float32 as stored (torch backend).
            max_length: token window; default 1024 (official), capped at what the backbone supports.
            backend: ``"torch"`` (default) or ``"onnx"``: ONNX Runtime with numpy and tokenizers only, no torch
                or transformers import (``pip install "uniclass[onnx]"``).
            quantized: ONNX only: run the int8 graphs written by ``export_onnx(..., quantize=True)``.
            num_threads: CPU threads for the model: ``torch.set_num_threads`` (process-wide) or the ONNX
                Runtime session's ``intra_op_num_threads``.
            compile: torch only: ``torch.compile`` the forward pass (slow first calls, faster later ones).
            max_batch_tokens: default token budget per batch for ``predict``/``scores``/``classify``.

        Example:
            >>> clf = Classifier.from_pretrained("exported/", backend="onnx", num_threads=2)  # doctest: +SKIP
            >>> clf.scores("The striker scored", ["sports", "finance"])  # doctest: +SKIP
            [0.97, 0.02]
        """
        backend = _resolve_backend(backend)
        if backend == "onnx":
            _check_onnx_options(device=device, dtype=dtype, compile=compile)
            if model_name_or_path is None:
                raise ValueError("backend='onnx' needs the folder of an ONNX export (uniclass export onnx --out DIR)")
            folder = resolve_checkpoint(model_name_or_path, revision=revision, token=token, cache_dir=cache_dir,
                                        local_files_only=local_files_only)
            return cls._from_onnx_folder(folder, max_length=max_length, quantized=quantized, num_threads=num_threads,
                                         max_batch_tokens=max_batch_tokens)
        if quantized:
            raise ValueError("quantized=True applies to backend='onnx' (int8 ONNX graphs); the torch backend is float")
        if model_name_or_path is None:
            if not (DEFAULT_MODEL_DIR / "config.json").is_file():
                raise ValueError(
                    "The default model is not installed with this copy of uniclass: pass a GLiClass checkpoint "
                    "folder or hub id to Classifier.from_pretrained()."
                )
            model_name_or_path = DEFAULT_MODEL_DIR
        folder = resolve_checkpoint(model_name_or_path, revision=revision, token=token, cache_dir=cache_dir,
                                    local_files_only=local_files_only)
        from .backends.torch_backend import TorchBackend, resolve_dtype
        from .modeling import GLiClassModel

        config = GLiClassConfig.from_json_file(folder / "config.json")
        if not (folder / WEIGHTS_FILE).is_file() and (folder / "model.onnx").is_file():
            raise FileNotFoundError(f"{folder} is an ONNX export without torch weights: load it with backend='onnx'")
        model = GLiClassModel(config, init_weights=False)
        model.load_weights(folder / WEIGHTS_FILE)
        tokenizer = _load_tokenizer(folder)
        label_tokenizer = None
        if config.architecture_type in _BI_ENCODERS:
            label_tokenizer = _load_label_tokenizer(folder, config)
        model.to(device=resolve_device(device), dtype=resolve_dtype(dtype))
        torch_backend = TorchBackend(model, compile=compile, num_threads=num_threads)
        return cls(torch_backend, tokenizer, label_tokenizer, max_length=max_length, calibration=Calibration.load(folder),
                   max_batch_tokens=max_batch_tokens)

    @classmethod
    def _from_onnx_folder(
        cls, folder: Path, *, max_length: int | None, quantized: bool, num_threads: int | None, max_batch_tokens: int | None
    ) -> Classifier:
        """The torch-free path: config without transformers, ``tokenizer.json`` with tokenizers, graphs on onnxruntime."""
        from .backends.onnx_runtime import OnnxBackend, is_export_folder
        from .backends.tokenizer import FastTokenizer

        if not is_export_folder(folder):
            raise FileNotFoundError(
                f"{folder} has no model.onnx: export the checkpoint first with "
                f"`uniclass export onnx --model {folder} --out DIR` and load DIR with backend='onnx'"
            )
        config = GLiClassConfig.from_json_file(folder / "config.json", plain_backbones=True)
        tokenizer = FastTokenizer.from_folder(folder)
        label_tokenizer = FastTokenizer.from_folder(folder / LABEL_TOKENIZER_DIR) if config.architecture_type in _BI_ENCODERS else None
        onnx_backend = OnnxBackend(folder, config, quantized=quantized, num_threads=num_threads)
        return cls(onnx_backend, tokenizer, label_tokenizer, max_length=max_length, calibration=Calibration.load(folder),
                   max_batch_tokens=max_batch_tokens)

    @classmethod
    def from_backbone(
        cls,
        backbone: str | Path,
        architecture: str = "uni-encoder",
        *,
        label_backbone: str | Path | None = None,
        device: str | torch.device = "cpu",
        max_length: int | None = None,
        **options: Any,
    ) -> Classifier:
        """Start an untrained GLiClass model from a pretrained encoder folder (or hub id).

        Adds the ``<<LABEL>>``/``<<SEP>>``/``<<EXAMPLE>>`` tokens, resizes the embeddings and initialises the
        head as the official code does. ``options`` are config fields, e.g. ``pooling_strategy="avg"``,
        ``scorer_type="mlp"``, ``prompt_first=True``. Bi-encoders take ``label_backbone`` (default: same).

        Example:
            >>> clf = Classifier.from_backbone("path/to/all-MiniLM-L6-v2", prompt_first=True)  # doctest: +SKIP
        """
        from .training.init import model_from_backbone

        model, tokenizer, label_tokenizer = model_from_backbone(backbone, architecture, label_backbone=label_backbone, **options)
        model.to(resolve_device(device))
        return cls(model, tokenizer, label_tokenizer, max_length=max_length)

    def save_pretrained(self, directory: str | Path, *, merge_lora: bool = True) -> Path:
        """Write ``config.json``, ``model.safetensors`` and tokenizer files (official layout).

        The official ``gliclass`` package loads the result with ``GLiClassModel.from_pretrained``. LoRA
        adapters, if any, are merged into the saved weights (the classifier itself keeps them).
        """
        model = self._require_torch("save_pretrained").model
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if merge_lora:
            from .training.lora import has_lora, merged_copy

            if has_lora(model):
                model = merged_copy(model)
        self.config.extra["dtype"] = str(model.dtype).removeprefix("torch.")
        self.config.save(directory)
        model.save_weights(directory / WEIGHTS_FILE)
        self.tokenizer.save_pretrained(str(directory))
        if self.label_tokenizer is not None:
            self.label_tokenizer.save_pretrained(str(directory / LABEL_TOKENIZER_DIR))
        if self.calibration is not None:
            self.calibration.save(directory)  # calibration.json: ignored by the official package
        return directory

    def enable_lora(self, *, r: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules: str | list[str] = "all-linear") -> Classifier:
        """Add LoRA adapters to the encoder(s) (peft) for parameter-efficient fine-tuning."""
        from .training.lora import enable_lora

        enable_lora(self._require_torch("enable_lora").model, r=r, alpha=alpha, dropout=dropout, target_modules=target_modules)
        self._model_changed()
        return self

    def merge_lora(self) -> Classifier:
        """Merge LoRA adapters into the weights, leaving a plain model."""
        from .training.lora import merge_lora

        merge_lora(self._require_torch("merge_lora").model)
        self._model_changed()
        return self

    def _model_changed(self) -> None:
        """Cached label vectors and a compiled forward pass belong to the old weights/modules."""
        self._label_cache.clear()
        reset = getattr(self.backend, "reset", None)
        if reset is not None:
            reset()

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str | Sequence[str]],
        *,
        all_labels: Sequence[str] | None = None,
        multi_label: bool = True,
        epochs: float = 10,
        learning_rate: float = 1e-4,
        batch_size: int = 8,
        lora: bool = True,
        output_dir: str | Path | None = None,
        seed: int = 0,
        **training_args: Any,
    ) -> Classifier:
        """Few-shot fine-tuning on a handful of labelled texts (LoRA by default, merged afterwards).

        Args:
            texts: the training texts.
            labels: per text, its true label (str) or labels (list).
            all_labels: the candidate labels of the task (default: every label seen in ``labels``).
            multi_label: focal/BCE training if True, softmax cross-entropy over the labels if False.

        Example:
            >>> clf.fit(["goal in extra time", "shares fell"], ["sports", "finance"], epochs=5)  # doctest: +SKIP
        """
        import tempfile

        self._require_torch("fit")
        from .data.formats import Example
        from .training import Trainer, TrainingArguments

        true_lists = [[y] if isinstance(y, str) else list(y) for y in labels]
        if len(true_lists) != len(texts):
            raise ValueError(f"fit: {len(texts)} texts but {len(true_lists)} label entries")
        candidates = list(all_labels) if all_labels is not None else sorted({y for ys in true_lists for y in ys})
        examples = [
            Example(text, tuple(candidates), tuple(1.0 if c in ys else 0.0 for c in candidates))
            for text, ys in zip(texts, true_lists, strict=True)
        ]
        with tempfile.TemporaryDirectory() as scratch:
            args = TrainingArguments(
                output_dir=str(output_dir or scratch),
                num_train_epochs=epochs,
                learning_rate=learning_rate,
                per_device_train_batch_size=batch_size,
                loss="focal" if multi_label else "softmax",
                use_lora=lora,
                save_strategy="no",
                logging_strategy="no",
                disable_tqdm=True,
                seed=seed,
                use_cpu=self.device.type == "cpu",
                **training_args,
            )
            Trainer(self, args, train_data=examples).train()
        if lora:
            self.merge_lora()
        self.model.eval()
        self._model_changed()
        return self

    @property
    def device(self) -> torch.device | str:
        """Where the model runs (a ``torch.device``; ``"cpu"`` for ONNX Runtime)."""
        return self.backend.device

    def to(self, device: str | torch.device) -> Classifier:
        self._require_torch("to(device)").model.to(resolve_device(device))
        self._model_changed()
        return self

    # ================================================================== inference
    def predict(
        self,
        texts: str | Sequence[str],
        labels: Any,
        *,
        multi_label: bool | Sequence[bool] = True,
        prompt: str | Sequence[str] | None = None,
        examples: Any = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        max_length: int | None = None,
        long_text: str = "truncate",
        chunk_overlap: int = 64,
        aggregate: str = "max",
        split_labels: bool = True,
        max_batch_tokens: int | None = None,
    ) -> list[Prediction]:
        """Score every label of every text and report how each text was fitted into the window.

        ``long_text="truncate"`` keeps the beginning of a text that is too long (a warning says how many
        were cut); ``"chunk"`` scores overlapping windows of ``chunk_overlap`` tokens with all labels in
        each and aggregates logits with ``aggregate`` (``max`` or ``mean``). Label sets that do not fit one
        window are split into groups unless ``split_labels=False``, which raises instead.

        Inputs are sorted by length and batched: at most ``batch_size`` inputs per batch and, with
        ``max_batch_tokens`` (default: the classifier's), at most that many padded tokens (inputs x longest
        input), so many short texts share a batch and long ones do not exhaust memory. Scores do not depend on
        the batching.

        Example:
            >>> p = clf.predict(["Shares fell", "A long report ..."], ["finance", "sports"], max_batch_tokens=4096)  # doctest: +SKIP
            >>> p[0].scores, p[0].truncated  # doctest: +SKIP
            ([0.91, 0.03], False)
        """
        request = normalize_request(texts, labels, multi_label=multi_label, prompt=prompt, examples=examples)
        max_batch_tokens = self.max_batch_tokens if max_batch_tokens is None else max_batch_tokens
        check_batch_options(batch_size, max_batch_tokens)
        if aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be 'max' or 'mean', got {aggregate!r}")
        window = self._resolve_max_length(max_length) if max_length is not None else self.max_length
        policy = WindowPolicy(window, long_text, min(chunk_overlap, window // 4), split_labels)
        plans = self._builder.build(request, policy)
        _warn_about_fitting(plans, window)
        segments = [segment for plan in plans for segment in plan.segments]
        logits = self._run(segments, batch_size, show_progress, max_batch_tokens)
        return self._assemble(request, plans, segments, logits, aggregate)

    def scores(
        self,
        texts: str | Sequence[str],
        labels: Any,
        *,
        multi_label: bool | Sequence[bool] = True,
        prompt: str | Sequence[str] | None = None,
        examples: Any = None,
        batch_size: int = 32,
        as_tree: bool = False,
        **window: Any,
    ) -> list[Any]:
        """Per text, the score of every label in the given order.

        Sigmoid scores if ``multi_label`` (a bool, or one per text), else a softmax over that text's labels.
        A single ``str`` text returns a single list. With hierarchical (dict) labels, ``as_tree=True``
        returns the input tree with a score at each leaf. Other keyword arguments (``max_length``, ``long_text``,
        ``max_batch_tokens``...) are those of ``predict``.

        Example:
            >>> clf.scores(["I loved it", "Awful"], ["positive", "negative"])  # doctest: +SKIP
            [[0.93, 0.04], [0.02, 0.95]]
        """
        predictions = self.predict(
            texts, labels, multi_label=multi_label, prompt=prompt, examples=examples, batch_size=batch_size, **window
        )
        out: list[Any] = []
        for p in predictions:
            if as_tree and isinstance(p.label_tree, Mapping):
                out.append(build_label_tree(p.label_tree, dict(zip(p.labels, p.scores, strict=True))))
            else:
                out.append(p.scores)
        return out[0] if isinstance(texts, str) else out

    def classify(
        self,
        texts: str | Sequence[str],
        labels: Any,
        *,
        multi_label: bool | Sequence[bool] = True,
        threshold: Any = None,
        top_k: int | None = None,
        prompt: str | Sequence[str] | None = None,
        examples: Any = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        **window: Any,
    ) -> list[Any]:
        """Per text, ``[{"label": str, "score": float}, ...]`` sorted by score, highest first.

        Multi-label keeps labels whose score is ``>= threshold`` (a float, a dict label -> threshold, or one of
        those per text; default 0.5, or the per-label thresholds fitted by ``calibrate``); single-label returns
        the best label (or the ``top_k`` best).

        Example:
            >>> clf.classify("The striker scored twice", ["sports", "finance"], multi_label=False)  # doctest: +SKIP
            [{'label': 'sports', 'score': 0.91}]
        """
        top_k = check_top_k(top_k)
        n = 1 if isinstance(texts, str) else len(texts) if isinstance(texts, Sequence) else 0
        if threshold is None:
            fitted = self.calibration.thresholds if self.calibration else None
            threshold = dict(fitted) if fitted else DEFAULT_THRESHOLD
        thresholds = normalize_thresholds(threshold, n)
        predictions = self.predict(
            texts, labels, multi_label=multi_label, prompt=prompt, examples=examples,
            batch_size=batch_size, show_progress=show_progress, **window,
        )
        out = [
            select(p.labels, np.asarray(p.scores), multi_label=p.multi_label, threshold=t, top_k=top_k)
            for p, t in zip(predictions, thresholds, strict=True)
        ]
        return out[0] if isinstance(texts, str) else out

    __call__ = classify

    def calibrate(
        self,
        texts: Sequence[str],
        true_labels: Sequence[str | Sequence[str]],
        labels: Sequence[str],
        *,
        multi_label: bool = True,
        thresholds: bool = False,
        batch_size: int = 32,
    ) -> dict[str, float]:
        """Fit a temperature (and optionally per-label thresholds) on a few labelled texts.

        The calibration is kept on the classifier, applied to every later score, and saved with
        ``save_pretrained`` (``calibration.json``). Returns ECE and Brier score before and after.

        Example:
            >>> report = clf.calibrate(texts, [["sports"], ["finance"]], ["sports", "finance"])  # doctest: +SKIP
            >>> report["ece_after"] <= report["ece_before"]  # doctest: +SKIP
            True
        """
        truth = [[y] if isinstance(y, str) else list(y) for y in true_labels]
        if len(truth) != len(texts):
            raise ValueError(f"calibrate: {len(texts)} texts but {len(truth)} label entries")
        unknown = {y for ys in truth for y in ys} - set(labels)
        if unknown:
            raise ValueError(f"calibrate: true labels {sorted(unknown)[:3]} are not among the candidate labels")
        previous, self.calibration = self.calibration, None
        try:
            predictions = self.predict(texts, list(labels), multi_label=multi_label, batch_size=batch_size)
        finally:
            self.calibration = previous
        logits = np.array([p.logits for p in predictions])
        targets = np.array([[1.0 if label in ys else 0.0 for label in labels] for ys in truth])
        temperature = fit_temperature(logits, targets, multi_label=multi_label)
        report = calibration_report(logits, targets, temperature, multi_label=multi_label)
        fitted = None
        if thresholds and multi_label:
            scores = activate(logits / temperature, True)
            fitted = fit_thresholds(list(labels), scores, [set(ys) for ys in truth])
        self.calibration = Calibration(temperature=temperature, thresholds=fitted)
        return report

    # ================================================================== internals
    def _resolve_max_length(self, requested: int | None) -> int:
        if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int) or requested < 8):
            raise ValueError(f"max_length must be an int >= 8, got {requested!r}")
        limit = max_positions(self.config.encoder_config)
        value = requested or DEFAULT_MAX_LENGTH
        if limit is not None and value > limit:
            if requested is not None:
                warnings.warn(f"max_length={requested} exceeds the backbone's {limit} positions; using {limit}", stacklevel=3)
            value = limit
        return value

    def _check_tokenizer(self) -> None:
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("uniclass needs a fast (tokenizers-backed) tokenizer to locate text tokens")
        if self.config.architecture_type == "bi-encoder":
            return
        for token, expected in ((CLASS_TOKEN, self.config.class_token_index), (TEXT_TOKEN, self.config.text_token_index)):
            found = self.tokenizer.convert_tokens_to_ids(token)
            if found != expected:
                raise ValueError(
                    f"tokenizer maps {token} to id {found} but config.json expects {expected}: "
                    "the tokenizer files do not belong to this checkpoint"
                )

    def _run(
        self, segments: list[Segment], batch_size: int, show_progress: bool | None, max_batch_tokens: int | None = None
    ) -> list[np.ndarray]:
        """Model logits for each segment; batches are length-sorted (and token-budgeted) to minimise padding."""
        lengths = [len(s.input_ids) + len(s.class_input_ids or ()) for s in segments]
        batches = plan_batches(lengths, batch_size, max_batch_tokens)
        if self.config.architecture_type in _BI_ENCODERS:
            self._cache_label_vectors({label for s in segments for label in s.labels}, batch_size)
        results: list[np.ndarray] = [np.empty(0)] * len(segments)
        for batch in _progress(batches, show_progress):
            logits = self.backend.run(self._collate([segments[i] for i in batch]))
            for row, index in enumerate(batch):
                results[index] = logits[row, : len(segments[index].labels)]
        return results

    def _collate(self, rows: list[Segment]) -> dict[str, np.ndarray]:
        """The backend-independent batch: padded int64 ids and masks, slot counts, cached label vectors."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.config.pad_token_id
        input_ids, attention_mask = pad_ids([r.input_ids for r in rows], pad)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        arch = self.config.architecture_type
        if arch in _BI_ENCODERS:
            counts = [len(r.labels) for r in rows]
            dim = next(iter(self._label_cache.values())).shape[-1]
            vectors = np.zeros((len(rows), max(counts), dim), dtype=np.float32)
            for i, r in enumerate(rows):
                vectors[i, : counts[i]] = np.stack([self._label_cache[label] for label in r.labels])
            batch["label_vectors"] = vectors
        else:
            counts = [self.config.label_slots(len(r.labels)) for r in rows]
        if arch in ("encoder-decoder", "encoder-decoder-cls"):
            batch["class_input_ids"], batch["class_attention_mask"] = pad_ids([r.class_input_ids for r in rows], pad)
        batch["slot_counts"] = np.asarray(counts, dtype=np.int64)
        return batch

    def _cache_label_vectors(self, labels: set[str], batch_size: int) -> None:
        """Encode the labels not yet cached (bi-encoders: label vectors do not depend on the text).

        The cache (LRU, at least ``_LABEL_CACHE_SIZE`` labels) lives on the classifier, so many calls against a
        fixed label set cost one label-encoder pass, on either backend.
        """
        missing = sorted((label for label in labels if label not in self._label_cache), key=len)
        window = max_positions(self.config.label_model_config) or self.max_length
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            ids = self.label_tokenizer(chunk, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
            for label, label_ids in zip(chunk, ids, strict=True):
                if len(label_ids) > window:
                    raise ValueError(f"label {label[:80]!r} has {len(label_ids)} tokens; the label encoder reads {window}")
            input_ids, mask = pad_ids(ids, self.label_tokenizer.pad_token_id or 0)
            vectors = self.backend.encode_labels(input_ids, mask)
            for label, vector in zip(chunk, vectors, strict=True):
                self._label_cache[label] = vector
        for label in labels:
            self._label_cache.move_to_end(label)
        while len(self._label_cache) > max(_LABEL_CACHE_SIZE, len(labels)):
            self._label_cache.popitem(last=False)

    def _assemble(
        self, request: Request, plans: list[ItemPlan], segments: list[Segment], logits: list[np.ndarray], aggregate: str
    ) -> list[Prediction]:
        by_item: dict[int, list[tuple[Segment, np.ndarray]]] = {}
        for segment, values in zip(segments, logits, strict=True):
            by_item.setdefault(segment.item, []).append((segment, values))
        out = []
        for index, plan in enumerate(plans):
            labels = request.labels[index]
            per_label: list[list[np.ndarray]] = [[] for _ in labels]
            for segment, values in by_item[index]:
                for j, value in enumerate(values):
                    per_label[segment.label_offset + j].append(value)
            item_logits = np.array([aggregate_chunks(v, aggregate) for v in per_label], dtype=np.float64)
            calibrated = self.calibration.apply(item_logits) if self.calibration else item_logits
            scores = activate(calibrated, request.multi_label[index])
            out.append(
                Prediction(
                    labels=list(labels),
                    scores=scores.tolist(),
                    logits=item_logits.tolist(),
                    multi_label=request.multi_label[index],
                    text_tokens=plan.text_tokens,
                    text_tokens_used=plan.text_tokens_used,
                    truncated=plan.truncated,
                    chunks=plan.chunks,
                    label_groups=plan.label_groups,
                    label_tree=request.label_trees[index] if request.label_trees else None,
                )
            )
        return out


# ====================================================================== helpers
def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA, then MPS, then CPU; anything else as ``torch.device`` (imports torch)."""
    from .backends.torch_backend import resolve_device as resolve

    return resolve(device)


def _is_backend(model: Any) -> bool:
    return callable(getattr(model, "run", None)) and callable(getattr(model, "encode_labels", None))


def _torch_backend(model: Any) -> Backend:
    from .backends.torch_backend import TorchBackend

    return TorchBackend(model)


def _resolve_backend(backend: str | None) -> str:
    if backend is None:
        if importlib.util.find_spec("torch") is None:
            raise ImportError(_TORCH_MISSING)
        return "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        raise ImportError(_TORCH_MISSING)
    return backend


def _check_onnx_options(*, device: Any, dtype: Any, compile: bool) -> None:
    if str(device) not in ("auto", "cpu"):
        raise ValueError(f"backend='onnx' runs on the CPU (onnxruntime); device={device!r} needs the torch backend")
    if dtype is not None and str(dtype).removeprefix("torch.") != "float32":
        raise ValueError(f"backend='onnx' runs the exported float32 graphs (or quantized=True), not dtype={dtype!r}")
    if compile:
        raise ValueError("compile=True is a torch option (torch.compile); ONNX Runtime optimises its graphs itself")


def resolve_checkpoint(name: str | Path, **hub_kwargs: Any) -> Path:
    """A local folder as is; anything else is treated as a hub id and downloaded with huggingface_hub."""
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a GLiClass checkpoint folder")
        return path
    if path.exists() or str(name).startswith((".", "/")) or str(name).count("/") > 1:
        raise FileNotFoundError(f"{name} is not a checkpoint folder")
    from huggingface_hub import snapshot_download

    hub_kwargs = {k: (str(v) if isinstance(v, Path) else v) for k, v in hub_kwargs.items()}
    return Path(snapshot_download(str(name), **hub_kwargs))


def _load_tokenizer(name: str | Path) -> Any:
    """AutoTokenizer without its warning about the GLiClass config.json it cannot map to a model type."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoTokenizer.from_pretrained(str(name))
    finally:
        hf_logging.set_verbosity(level)


def _load_label_tokenizer(folder: Path, config: GLiClassConfig) -> Any:
    local = folder / LABEL_TOKENIZER_DIR
    if local.is_dir():
        return _load_tokenizer(local)
    if config.label_model_name:
        candidate = folder / config.label_model_name
        return _load_tokenizer(candidate if candidate.is_dir() else config.label_model_name)
    raise ValueError(f"{folder}: bi-encoder checkpoint without label_tokenizer/ or label_model_name")


def _progress(batches: list[list[int]], show: bool | None) -> Iterator[list[int]]:
    if show is None:
        show = len(batches) > 4 and sys.stderr.isatty()
    if not show:
        return iter(batches)
    from tqdm.auto import tqdm

    return iter(tqdm(batches, desc="uniclass", unit="batch"))


def _warn_about_fitting(plans: list[ItemPlan], window: int) -> None:
    truncated = sum(p.truncated for p in plans)
    if truncated:
        warnings.warn(
            f"{truncated} of {len(plans)} texts did not fit the {window}-token window with their labels and were "
            "truncated (labels, prompt and examples are kept whole). Use long_text='chunk' to score every token; "
            "Classifier.predict() reports which texts were cut.",
            stacklevel=3,
        )
    split = sum(p.label_groups > 1 for p in plans)
    if split:
        warnings.warn(
            f"{split} of {len(plans)} texts had more labels than fit one {window}-token window; their labels were "
            "scored in separate groups, so scores across groups come from separate passes.",
            stacklevel=3,
        )
