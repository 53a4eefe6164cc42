"""uniclass: zero-shot and few-shot text classification with GLiClass models.

The public names are imported on first use (PEP 562), so ``import uniclass`` (and ``uniclass --help``)
does not pay for torch and transformers until a model is actually needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Classifier",
    "GLiClassConfig",
    "LabelIndex",
    "Labels",
    "Prediction",
    "Threshold",
    "Trainer",
    "TrainingArguments",
    "__version__",
    "pipeline",
]

_LAZY = {
    "Classifier": ".classifier",
    "Prediction": ".classifier",
    "GLiClassConfig": ".config",
    "LabelIndex": ".shortlist",  # a saved shortlist index: LabelIndex.load(folder)
    "Trainer": ".training",
    "TrainingArguments": ".training",
    "Labels": ".types",
    "Threshold": ".types",
    "pipeline": ".pipelines",
}

if TYPE_CHECKING:  # pragma: no cover
    from .classifier import Classifier, Prediction
    from .config import GLiClassConfig
    from .pipelines import pipeline
    from .shortlist import LabelIndex
    from .training import Trainer, TrainingArguments
    from .types import Labels, Threshold


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it on the package."""
    if name not in _LAZY:
        raise AttributeError(f"module 'uniclass' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
