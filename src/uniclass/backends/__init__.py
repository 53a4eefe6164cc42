"""Model backends: the one stage of a request that differs between torch and ONNX Runtime.

Everything before (validation, input layout, tokenisation, batching) and after (activations, thresholds,
chunk aggregation) is shared numpy/tokenizers code in ``engine.Engine``. A backend only turns a collated batch of
numpy arrays into logits, and, for bi-encoders, label token ids into label vectors:

* ``torch_backend.TorchBackend`` wraps a ``GLiClassModel`` (training, LoRA, saving, GPUs);
* ``onnx_runtime.OnnxBackend`` runs graphs written by ``exporters.onnx.export_onnx`` with numpy and onnxruntime
  only, so ``pip install "uniclass[onnx]"`` classifies without torch.

Nothing here imports torch or onnxruntime; each backend module imports what it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..config import GLiClassConfig

BACKENDS = ("torch", "onnx")


class Backend(Protocol):
    """What the engine (``engine.Engine``) needs from a model stage.

    The collated batch has ``input_ids`` and ``attention_mask`` (int64 ``[B, L]``), ``slot_counts`` (int64
    ``[B]``, label slots per row), and per architecture ``label_vectors`` (float32 ``[B, K, D]``,
    bi-encoders) or ``class_input_ids``/``class_attention_mask`` (encoder-decoders).
    """

    name: str

    @property
    def config(self) -> GLiClassConfig: ...

    @property
    def device(self) -> Any: ...

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits ``[B, K]`` (float32) for the collated batch."""
        ...

    def encode_labels(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Label vectors ``[N, D]`` (float32) for tokenised labels (bi-encoders only)."""
        ...

    @property
    def has_calibrator(self) -> bool:
        """The model carries a learned calibrator (``modeling.calibrator``): the engine then asks for vectors."""
        ...

    def run_representations(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(logits [B, K], text vectors [B, D], label vectors [B, K, D])`` for the collated batch."""
        ...

    def calibrate(
        self, text: np.ndarray, labels: np.ndarray, logits: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The learned calibrator's ``(beta, bias)`` ``[S, K]`` for padded windows (``mask`` 1 for real labels)."""
        ...


def slot_mask(slot_counts: np.ndarray, num_slots: int | None = None) -> np.ndarray:
    """``[B, K]`` int64 mask, 1 for the label slots each row was given (K = max count unless given)."""
    width = int(slot_counts.max()) if num_slots is None else num_slots
    return (np.arange(width)[None, :] < slot_counts[:, None]).astype(np.int64)


def check_num_threads(num_threads: Any) -> None:
    """Raise ``ValueError`` unless ``num_threads`` is a positive int."""
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int or None, got {num_threads!r}")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its log messages and progress bars while uniclass loads a model.

    Why: every ``from_pretrained`` of transformers 5 draws a "Loading weights" bar, and loading the default
    model (its prior's embedder) would draw one on every load; errors still raise as usual.
    """
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
