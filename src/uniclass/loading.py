"""Loading: checkpoint resolution (folder or hub id), backend choice, tokenizers, the bundled default model.

``load_torch`` and ``load_onnx`` return the parts an ``Engine`` (and a ``Classifier``) is built from, so the
exporters can load a checkpoint without the public API class. Which file of the folder holds what is
:class:`~uniclass.checkpoint.Checkpoint`'s; both loaders read the folder through one. Nothing here imports torch
at module level: ``load_onnx`` runs with numpy, tokenizers and onnxruntime only.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .backends import BACKENDS
from .calibration import Calibration
from .checkpoint import CONFIG_FILE, LABEL_TOKENIZER_DIR, WEIGHTS_FILE, Checkpoint
from .config import GLiClassConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .backends import Backend
    from .backends.embedding import EmbeddingPrior

__all__ = [
    "DEFAULT_MODEL_DIR",
    "LABEL_TOKENIZER_DIR",
    "WEIGHTS_FILE",
    "LoadedParts",
    "default_model_dir",
    "load_onnx",
    "load_torch",
    "resolve_backend",
    "resolve_checkpoint",
    "resolve_device",
]

# The default model ships inside the package (fp16 safetensors; see models/train_default.py and its card).
BUNDLED_MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL_DIR = BUNDLED_MODELS_DIR / "uniclass-minilm"
TORCH_MISSING = (
    "torch is not installed. Install the torch backend with pip install 'uniclass[torch]', or run an exported "
    "model without torch: `uniclass export onnx --model M --out DIR` (on a machine with torch), then "
    "Classifier.from_pretrained(DIR, backend='onnx') with pip install 'uniclass[onnx]'."
)


@dataclass
class LoadedParts:
    """What a checkpoint folder holds, ready to run: the backend, tokenizer(s) and calibration."""

    backend: Backend
    tokenizer: Any
    label_tokenizer: Any
    calibration: Calibration | None
    prior: EmbeddingPrior | None = None
    # "int8": the model is still float32 and must be calibrated through the whole pipeline, then quantized
    # (``backends.precision.calibrated_int8``; SmoothQuant needs activations in the classifier's input format)
    pending_precision: str | None = None


def default_model_dir() -> Path:
    """The bundled default model's folder; a clear error when this copy of uniclass ships without it."""
    if not Checkpoint(DEFAULT_MODEL_DIR).path(CONFIG_FILE).is_file():
        raise ValueError(
            "The default model is not installed with this copy of uniclass: pass a GLiClass checkpoint "
            "folder or hub id to Classifier.from_pretrained()."
        )
    return DEFAULT_MODEL_DIR


def load_torch(
    folder: Path,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    compile: bool = False,
    num_threads: int | None = None,
    precision: str | None = None,
    prior: bool = True,
) -> LoadedParts:
    """A checkpoint folder (official layout) on the torch backend, in ``precision`` (``backends.precision``).

    With ``prior`` (default) a ``prior.json`` in the folder adds its embedding-similarity prior
    (``backends.embedding``); ``prior=False`` runs the GLiClass model alone.
    """
    from .backends.precision import apply_precision, normalize_precision, resolve_precision
    from .backends.torch_backend import TorchBackend, resolve_dtype
    from .modeling import GLiClassModel
    from .modeling.delta import load_delta_state

    checkpoint = Checkpoint(folder)
    config = checkpoint.read_config()
    checkpoint.require_torch_weights()
    shared = backbone_tokenizer_folder(folder)
    if shared is None:
        checkpoint.require_tokenizer()
    try:
        model = GLiClassModel(config, init_weights=False)
    except (RuntimeError, ValueError, TypeError) as err:  # e.g. a negative size: torch's error, many lines deep
        raise ValueError(f"{checkpoint.path(CONFIG_FILE)}: cannot build the model it describes ({err})") from None
    if not checkpoint.has_torch_weights and checkpoint.is_delta:
        # stored as a delta over a backbone installed from a registry (modeling/delta.py): rebuilt in full here
        model.load_state_dict_checked(load_delta_state(folder))
    else:
        try:
            model.load_weights(folder / WEIGHTS_FILE)
        except Exception as err:  # safetensors' own error type is not a ValueError: make it one line
            unnamed_os_error = isinstance(err, OSError) and not getattr(err, "filename", None)
            if not unnamed_os_error and type(err).__name__ != "SafetensorError":
                raise
            raise ValueError(
                f"{folder / WEIGHTS_FILE}: not a readable safetensors file, truncated or corrupt ({err})"
            ) from None
    tokenizer = load_tokenizer(shared or folder)
    if config.is_bi_encoder:
        label_tokenizer = load_tokenizer(shared) if shared is not None else load_label_tokenizer(folder, config)
    else:
        label_tokenizer = None
    if normalize_precision(precision) not in (None, "fp32") and dtype is not None:
        raise ValueError(f"pass precision={precision!r} or dtype={dtype!r}, not both (precision sets the dtypes)")
    target = resolve_device(device)
    chosen = resolve_precision(precision, target)
    model.to(device=target, dtype=resolve_dtype(dtype))
    pending = chosen if chosen == "int8" else None
    apply_precision(model, "fp32" if pending else chosen)
    backend = TorchBackend(model, compile=compile, num_threads=num_threads, precision="fp32" if pending else chosen)
    embedding_prior = load_prior(folder, device=target, precision=chosen) if prior else None
    return LoadedParts(
        backend, tokenizer, label_tokenizer, checkpoint.read_calibration(prior=prior), embedding_prior, pending
    )


def backbone_tokenizer_folder(folder: Path) -> Path | None:
    """The registry backbone's folder when a delta checkpoint takes its tokenizer from there, else None.

    Why: the XLM-R tokenizer of multilingual-e5-small is 17 MB; a bi-encoder adds no tokens, so a delta over that
    backbone (``delta.json``: ``"tokenizer": "backbone"``) ships no copy and uses the backbone's own.
    """
    from .modeling.delta import DELTA_CONFIG, is_delta_folder, resolve_base

    if (folder / "tokenizer.json").is_file() or not is_delta_folder(folder):
        return None
    import json

    meta = json.loads((folder / DELTA_CONFIG).read_text(encoding="utf-8"))
    if meta.get("tokenizer") != "backbone":
        return None
    return resolve_base(meta["base"]).parent


def bundled_model_dir(name: str) -> Path | None:
    """``src/uniclass/models/<name>`` for a model that ships with uniclass (``"uniclass-minilm"``,
    ``"uniclass-multilingual"``), else None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    folder = BUNDLED_MODELS_DIR / name
    return folder if (folder / "config.json").is_file() else None


def bundled_models() -> list[str]:
    """Names of the models bundled with this copy of uniclass."""
    return sorted(p.name for p in BUNDLED_MODELS_DIR.iterdir() if (p / "config.json").is_file())


def load_prior(folder: Path, *, device: Any, precision: str) -> EmbeddingPrior | None:
    """The folder's embedding-similarity prior (``prior.json``) on ``device``, or None when it has none."""
    from .backends.embedding import EmbeddingPrior, PriorSpec

    spec = PriorSpec.load(folder)
    if spec is None:
        return None
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    return EmbeddingPrior.load(spec, folder, device=device, dtype=dtype)


def load_onnx(
    folder: Path, *, quantized: bool = False, num_threads: int | None = None, prior: bool = True
) -> LoadedParts:
    """The torch-free path: config without transformers, ``tokenizer.json`` with tokenizers, graphs on onnxruntime."""
    from .backends.onnx_runtime import OnnxBackend
    from .backends.tokenizer import FastTokenizer

    checkpoint = Checkpoint(folder)
    checkpoint.require_onnx_export()
    config = checkpoint.read_config(plain_backbones=True)
    tokenizer = FastTokenizer.from_folder(folder)
    label_tokenizer = FastTokenizer.from_folder(checkpoint.path(LABEL_TOKENIZER_DIR)) if config.is_bi_encoder else None
    backend = OnnxBackend(folder, config, quantized=quantized, num_threads=num_threads)
    embedding_prior = load_onnx_prior(folder, num_threads=num_threads) if prior else None
    return LoadedParts(backend, tokenizer, label_tokenizer, checkpoint.read_calibration(prior=prior), embedding_prior)


def load_onnx_prior(folder: Path, *, num_threads: int | None = None) -> EmbeddingPrior | None:
    """An export's prior (``prior.json`` + ``prior/embedder.onnx``) on onnxruntime, or None when it has none."""
    from .backends.embedding import EmbeddingPrior, PriorError, PriorSpec, load_prototypes
    from .backends.onnx_runtime import OnnxEmbedder
    from .checkpoint import EMBEDDER_FILE

    spec = PriorSpec.load(folder)
    if spec is None:
        return None
    embedder_folder = spec.resolve_folder(folder)
    if not (embedder_folder / EMBEDDER_FILE).is_file():
        raise PriorError(
            f"{folder}/prior.json names an embedding model without {EMBEDDER_FILE}: re-export the checkpoint with "
            "`uniclass export onnx` (which exports the prior too), or load with prior=False"
        )
    return EmbeddingPrior(
        spec,
        OnnxEmbedder(embedder_folder, max_length=spec.max_length, num_threads=num_threads),
        folder,
        prototypes=load_prototypes(folder),
    )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA, then MPS, then CPU; anything else as ``torch.device`` (imports torch)."""
    from .backends.torch_backend import resolve_device as resolve

    return resolve(device)


def is_backend(model: object) -> TypeGuard[Backend]:
    """A backend object (``run`` and ``encode_labels``) rather than a bare torch model."""
    return callable(getattr(model, "run", None)) and callable(getattr(model, "encode_labels", None))


def torch_backend(model: Any) -> Backend:
    """Wrap a ``GLiClassModel`` in the torch backend."""
    from .backends.torch_backend import TorchBackend

    return TorchBackend(model)


def resolve_backend(backend: str | None) -> str:
    """``None`` means torch; a clear error when torch is asked for (or implied) but not installed."""
    if backend is None:
        if importlib.util.find_spec("torch") is None:
            raise ImportError(TORCH_MISSING)
        return "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        raise ImportError(TORCH_MISSING)
    return backend


def onnx_quantized(precision: str | None, quantized: bool) -> bool:
    """``backend="onnx"``: ``precision="int8"`` means the int8 graphs; fp32 the float ones; others raise."""
    from .backends.precision import normalize_precision

    name = normalize_precision(precision)
    if name in (None, "fp32"):
        return quantized
    if name == "int8":
        return True
    raise ValueError(f"backend='onnx' runs float32 or int8 graphs (precision='fp32' or 'int8'), not {precision!r}")


def check_onnx_options(*, device: Any, dtype: Any, compile: bool) -> None:
    """Reject torch-only options with ``backend="onnx"`` instead of ignoring them."""
    if str(device) not in ("auto", "cpu"):
        raise ValueError(f"backend='onnx' runs on the CPU (onnxruntime); device={device!r} needs the torch backend")
    if dtype is not None and str(dtype).removeprefix("torch.") != "float32":
        raise ValueError(f"backend='onnx' runs the exported float32 graphs (or quantized=True), not dtype={dtype!r}")
    if compile:
        raise ValueError("compile=True is a torch option (torch.compile); ONNX Runtime optimises its graphs itself")


def resolve_checkpoint(name: str | Path, **hub_kwargs: Any) -> Path:
    """A local folder as is; a bundled model's name (``"uniclass-multilingual"``) as its folder; anything else is
    treated as a hub id and downloaded with huggingface_hub."""
    path = Path(name)
    bundled = None if path.is_dir() else bundled_model_dir(str(name))
    if bundled is not None:
        return bundled
    if path.is_dir():
        if not Checkpoint(path).path(CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a GLiClass checkpoint folder")
        return path
    if _looks_local(str(name)):
        raise FileNotFoundError(f"{name} is not a checkpoint folder (no such folder here; a hub id is 'owner/name')")
    from huggingface_hub import snapshot_download

    hub_kwargs = {k: (str(v) if isinstance(v, Path) else v) for k, v in hub_kwargs.items()}
    return Path(snapshot_download(str(name), **hub_kwargs))


def _looks_local(name: str) -> bool:
    """A path rather than a hub id: it exists, starts like a path, has more than one ``/``, a backslash, or its
    first part is a local folder (``runs/typo`` next to ``runs/``): never sent to the hub, where a typo would
    fail with a DNS error and hub advice."""
    path = Path(name)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        return True
    return "/" in name and Path(name.split("/", 1)[0]).is_dir()


def load_tokenizer(name: str | Path) -> Any:
    """AutoTokenizer without its warning about the GLiClass config.json it cannot map to a model type."""
    from transformers import AutoTokenizer

    from .backends import quiet_transformers

    with quiet_transformers():
        try:
            return AutoTokenizer.from_pretrained(str(name))
        except Exception as err:
            if not Path(name).is_dir() or isinstance(err, (ImportError, FileNotFoundError)):
                raise
            raise ValueError(f"{Path(name) / 'tokenizer.json'}: cannot be loaded as a tokenizer ({err})") from None


def load_label_tokenizer(folder: Path, config: GLiClassConfig) -> Any:
    """Bi-encoders: ``label_tokenizer/`` in the folder, else the tokenizer of ``label_model_name``."""
    local = Checkpoint(folder).path(LABEL_TOKENIZER_DIR)
    if local.is_dir():
        return load_tokenizer(local)
    if config.label_model_name:
        candidate = folder / config.label_model_name
        return load_tokenizer(candidate if candidate.is_dir() else config.label_model_name)
    raise ValueError(f"{folder}: bi-encoder checkpoint without label_tokenizer/ or label_model_name")
