"""The torch backend: a ``GLiClassModel`` behind the backend interface (numpy batch in, numpy logits out).

It is the backend for training, LoRA, saving and GPUs. The classifier hands it numpy arrays; it moves them to
the model's device once per batch and copies the logits back once per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..modeling import GLiClassModel
from ..modeling.bi_encoder import BiEncoder
from . import check_num_threads, slot_mask

_FLOAT_INPUTS = ("label_vectors",)


class TorchBackend:
    """Runs a ``GLiClassModel`` under ``torch.inference_mode``.

    Args:
        model: the network (its ``config`` is the classifier's config).
        compile: wrap the forward pass in ``torch.compile(dynamic=True)``: the first batches are slow (graph
            capture and code generation), later ones faster on large models. Needs a C++ compiler on CPU.
        num_threads: ``torch.set_num_threads`` (process-wide: torch has one intra-op pool per process).
        precision: the recipe ``backends.precision.apply_precision`` already applied to ``model`` (``"fp32"``,
            ``"bf16"``, ``"fp16"``, ``"int8"``): float inputs (label vectors) then go in as float32, the dtype
            of the head, which those recipes keep in float32.

    Example:
        >>> from uniclass.backends.torch_backend import TorchBackend  # doctest: +SKIP
        >>> backend = TorchBackend(model, num_threads=2)  # doctest: +SKIP
        >>> backend.run(batch).shape  # doctest: +SKIP
        (4, 5)
    """

    name = "torch"

    def __init__(
        self,
        model: GLiClassModel,
        *,
        compile: bool = False,
        num_threads: int | None = None,
        precision: str = "fp32",
    ):
        if num_threads is not None:
            check_num_threads(num_threads)
            torch.set_num_threads(num_threads)
        self.model = model.eval()
        self.compile = compile
        self.precision = precision
        self._compiled: Any = None
        self.adapters: Any = None  # modeling.adapters.AdapterSet once a LoRA adapter is loaded

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype of float inputs: the model's, except under a mixed recipe (float32 head)."""
        return self.model.dtype if self.precision == "fp32" else torch.float32

    def reset(self) -> None:
        """Forget the compiled forward (the model's modules changed, e.g. LoRA adapters were added or merged)."""
        self._compiled = None

    def _forward(self) -> Any:
        if not self.compile:
            return self.model
        if self._compiled is None:
            self._compiled = torch.compile(self.model, dynamic=True)
        return self._compiled

    def to_tensors(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Numpy arrays to tensors on the model's device (float inputs in the model's dtype)."""
        device, dtype = self.device, self.input_dtype
        out = {}
        for name, array in batch.items():
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            out[name] = tensor.to(device=device, dtype=dtype) if name in _FLOAT_INPUTS else tensor.to(device)
        return out

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        self.model.eval()  # a Trainer may have left it in training mode (dropout)
        slots = batch.get("adapter_slots")
        if slots is not None:
            batch = {name: array for name, array in batch.items() if name != "adapter_slots"}
            return self._run_with_adapters(batch, slots)
        if self.compile:
            # the label count as a tensor shape (as in the ONNX graph), not int(slot_counts.max()): no graph break
            batch = dict(batch)
            counts = batch.pop("slot_counts")
            width = batch["label_vectors"].shape[1] if "label_vectors" in batch else None
            batch["slot_mask"] = slot_mask(counts, width)
        with torch.inference_mode():
            logits = self._forward()(**self.to_tensors(batch))
            return logits.float().cpu().numpy()  # one device-to-host copy per batch

    def _run_with_adapters(self, batch: dict[str, np.ndarray], slots: np.ndarray) -> np.ndarray:
        """``run`` with each row's LoRA adapter (``modeling.adapters``): the slots are routed for this pass only."""
        if self.adapters is None:
            raise ValueError("adapter_slots given but no adapter is loaded")
        self.adapters.router.rows = torch.from_numpy(slots).to(self.device)
        try:
            with torch.inference_mode():
                return self.model(**self.to_tensors(batch)).float().cpu().numpy()
        finally:
            self.adapters.router.rows = None

    # ------------------------------------------------------------------ learned calibrator
    @property
    def has_calibrator(self) -> bool:
        """The model carries a learned calibrator (``modeling.calibrator``): the engine then asks for vectors."""
        return getattr(self.model, "calibrator", None) is not None

    def run_representations(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(logits [B, K], text vectors [B, D], label vectors [B, K, D])``, uncalibrated, as float32; rows with
        ``adapter_slots`` run with their LoRA adapter, as in ``run``."""
        self.model.eval()
        slots = batch.get("adapter_slots")
        if slots is not None:
            if self.adapters is None:
                raise ValueError("adapter_slots given but no adapter is loaded")
            batch = {name: array for name, array in batch.items() if name != "adapter_slots"}
            self.adapters.router.rows = torch.from_numpy(slots).to(self.device)
        try:
            with torch.inference_mode():
                logits, text, labels = self.model.forward_representations(**self.to_tensors(batch))
                return tuple(t.float().cpu().numpy() for t in (logits, text, labels))  # type: ignore[return-value]
        finally:
            if slots is not None and self.adapters is not None:
                self.adapters.router.rows = None

    def calibrate(
        self, text: np.ndarray, labels: np.ndarray, logits: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The learned calibrator's ``(beta, bias)`` ``[S, K]`` for padded windows (``mask`` 1 for real labels)."""
        calibrator = self.model.calibrator
        if calibrator is None:
            raise RuntimeError("this model has no learned calibrator (see has_calibrator)")
        calibrator.eval()
        device = self.device
        with torch.inference_mode():
            beta, bias = calibrator(
                *(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in (text, labels, logits, mask))
            )
            return beta.cpu().numpy(), bias.cpu().numpy()

    def encode_labels(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.model.eval()
        tensors = self.to_tensors({"input_ids": input_ids, "attention_mask": attention_mask})
        with torch.inference_mode():
            family = self.model.model
            if not isinstance(family, BiEncoder):
                raise TypeError(
                    f"encode_labels needs a bi-encoder, this model is {self.model.config.architecture_type}"
                )
            vectors = family.encode_labels(tensors["input_ids"], tensors["attention_mask"])
            return vectors.float().cpu().numpy()


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA, then MPS, then CPU; anything else as ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}")
    return value
