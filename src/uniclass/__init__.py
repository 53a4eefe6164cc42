"""uniclass: zero-shot and few-shot text classification with GLiClass models."""

from __future__ import annotations

from .classifier import Classifier, Prediction
from .config import GLiClassConfig

__version__ = "0.1.0"
__all__ = ["Classifier", "GLiClassConfig", "Prediction", "__version__"]
