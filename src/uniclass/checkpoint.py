"""The checkpoint folder: the one module that knows which file of a model folder holds what.

A GLiClass checkpoint is a folder in the official ``gliclass`` layout, plus files only uniclass reads. Every
loader (``loading.load_torch``, ``loading.load_onnx``), the ONNX runtime and exporter, the delta weights, the
prior and the calibration find their files through :class:`Checkpoint`, so the layout is written down once:

==============================  =====================================================================
``config.json``                 the GLiClass config (:class:`~uniclass.config.GLiClassConfig`)
``tokenizer.json`` (+ companions)  the fast tokenizer; ``label_tokenizer/`` for bi-encoders
``model.safetensors``           the weights (torch backend)
``delta.json``, ``delta.safetensors``  weights stored as a delta over a backbone package (``modeling.delta``)
``calibration.json``            temperature, shift and per-label thresholds (:mod:`uniclass.calibration`)
``prior.json`` (+ ``prior_*``)  the embedding-similarity prior (``backends.embedding``); ``prior/`` in exports
``model.onnx``, ``label_encoder.onnx``  ONNX graphs (``*_int8.onnx`` quantized), ``onnx_parity.json`` their check
==============================  =====================================================================

Example:

>>> from uniclass.loading import DEFAULT_MODEL_DIR
>>> checkpoint = Checkpoint(DEFAULT_MODEL_DIR)
>>> checkpoint.read_config().architecture_type, checkpoint.has_prior, checkpoint.is_onnx_export
('uni-encoder', True, False)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .calibration import CALIBRATION_FILE, Calibration
from .config import LABEL_TOKENIZER_DIR, WEIGHTS_FILE, GLiClassConfig

__all__ = [
    "CALIBRATION_FILE",
    "CONFIG_FILE",
    "DELTA_CONFIG",
    "DELTA_FILE",
    "EMBEDDER_FILE",
    "LABEL_ENCODER_FILE",
    "LABEL_TOKENIZER_DIR",
    "MODEL_FILE",
    "PARITY_FILE",
    "PRIOR_DIR",
    "PRIOR_FILE",
    "PROTOTYPES_FILE",
    "PROTOTYPE_LABELS_FILE",
    "REFERENCE_FILE",
    "TOKENIZER_FILE",
    "WEIGHTS_FILE",
    "Checkpoint",
    "graph_file",
]

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
DELTA_FILE = "delta.safetensors"
DELTA_CONFIG = "delta.json"
PRIOR_FILE = "prior.json"
PRIOR_DIR = "prior"  # ONNX exports: the prior's embedder graph and its tokenizer
PROTOTYPES_FILE = "prior_prototypes.safetensors"
PROTOTYPE_LABELS_FILE = "prior_prototypes.json"
REFERENCE_FILE = "prior_reference.safetensors"
MODEL_FILE = "model.onnx"
LABEL_ENCODER_FILE = "label_encoder.onnx"
EMBEDDER_FILE = "embedder.onnx"
CALIBRATOR_FILE = "calibrator.onnx"  # models with a learned calibrator (modeling.calibrator), always fp32
PARITY_FILE = "onnx_parity.json"
QUANTIZED_SUFFIX = "_int8"


def graph_file(name: str, *, quantized: bool = False) -> str:
    """``model.onnx`` -> ``model_int8.onnx`` for the quantized variant."""
    if not quantized:
        return name
    stem, _, ext = name.rpartition(".")
    return f"{stem}{QUANTIZED_SUFFIX}.{ext}"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint folder: where each part lives, which parts it has, and reading and writing them.

    Args:
        folder: the checkpoint folder (it need not exist yet when writing).
    """

    folder: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))

    def path(self, name: str) -> Path:
        """The path of ``name`` (a file or folder of the layout) inside the checkpoint."""
        return self.folder / name

    # ------------------------------------------------------------------ what the folder holds
    @property
    def has_torch_weights(self) -> bool:
        return self.path(WEIGHTS_FILE).is_file()

    @property
    def is_delta(self) -> bool:
        """Weights stored as a delta over a backbone installed from a package registry (``modeling.delta``)."""
        return self.path(DELTA_CONFIG).is_file()

    @property
    def is_onnx_export(self) -> bool:
        """A folder written by ``uniclass export onnx``."""
        return self.path(MODEL_FILE).is_file()

    @property
    def has_prior(self) -> bool:
        return self.path(PRIOR_FILE).is_file()

    @property
    def has_label_tokenizer(self) -> bool:
        return self.path(LABEL_TOKENIZER_DIR).is_dir()

    def onnx_graph(self, name: str = MODEL_FILE, *, quantized: bool = False) -> Path:
        """The path of an ONNX graph of the export (``quantized``: its int8 variant)."""
        return self.path(graph_file(name, quantized=quantized))

    # ------------------------------------------------------------------ reading
    def read_config(self, *, plain_backbones: bool = False) -> GLiClassConfig:
        """``config.json`` (``plain_backbones``: without transformers, as the ONNX path reads it)."""
        return GLiClassConfig.from_json_file(self.path(CONFIG_FILE), plain_backbones=plain_backbones)

    def require_tokenizer(self) -> Path:
        """``tokenizer.json``: a checkpoint must carry its fast tokenizer (otherwise another one may be picked up,
        whose marker ids then "do not belong", which hides the real problem)."""
        path = self.path(TOKENIZER_FILE)
        if not path.is_file():
            raise FileNotFoundError(
                f"{self.folder} has no tokenizer.json: copy the checkpoint's tokenizer files into the folder"
            )
        return path

    def require_torch_weights(self) -> None:
        """Torch weights, full or as a delta; an ONNX export without them says how to load it instead."""
        weights = self.path(WEIGHTS_FILE)
        if weights.exists() and not weights.is_file():
            raise ValueError(f"{weights} is not a file (a directory?): it should be the model's weights")
        if not self.has_torch_weights and self.is_onnx_export:
            raise FileNotFoundError(
                f"{self.folder} is an ONNX export without torch weights: load it with backend='onnx'"
            )

    def require_onnx_export(self) -> None:
        if not self.is_onnx_export:
            raise FileNotFoundError(
                f"{self.folder} has no model.onnx: export the checkpoint first with "
                f"`uniclass export onnx --model {self.folder} --out DIR` and load DIR with backend='onnx'"
            )

    def read_calibration(self, *, prior: bool = True) -> Calibration | None:
        """``calibration.json``, unless the folder has a prior that is switched off (``prior=False``).

        Why: a checkpoint saved with a prior was calibrated on its logits *with* the prior (``save_pretrained``
        writes ``prior.json`` only when the classifier had one), so its temperature and shift do not fit the
        GLiClass model's logits alone: ``prior=False`` gives the model's own, uncalibrated scores.
        """
        if not prior and self.has_prior:
            return None
        try:
            return Calibration.load(self.folder)
        except (ValueError, TypeError, OSError) as err:  # e.g. JSONDecodeError: name the file
            raise ValueError(f"{self.path(CALIBRATION_FILE)}: not a valid calibration file ({err})") from None

    def read_json(self, name: str) -> Any:
        """A JSON file of the layout (``delta.json``, ``onnx_parity.json``, ...); a one-line error when invalid."""
        path = self.path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None

    # ------------------------------------------------------------------ writing
    def write_config(self, config: GLiClassConfig) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return config.save(self.folder)

    def write_calibration(self, calibration: Calibration) -> Path:
        return calibration.save(self.folder)

    def write_json(self, name: str, data: Any) -> Path:
        """Write a JSON file of the layout (indented, newline-terminated); returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path
