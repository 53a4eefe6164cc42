"""Moved to :mod:`uniclass.modeling.init` (it builds a model); this name stays for old imports."""

from __future__ import annotations

from ..modeling.init import init_head, model_from_backbone

__all__ = ["init_head", "model_from_backbone"]
