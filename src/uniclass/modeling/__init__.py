"""GLiClass networks: one readable module per architecture family."""

from __future__ import annotations

from .model import GLiClassModel

__all__ = ["GLiClassModel"]
