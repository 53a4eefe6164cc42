"""Batch engines: a picklable ``Predictor`` for Ray Data, Spark and Dask, and the Ray Data job (``.ray``).

Only the predictor is imported here; ``uniclass.integrations.ray`` imports Ray when it is used.
"""

from __future__ import annotations

from .predictor import Predictor

__all__ = ["Predictor"]
