"""Moved to :mod:`uniclass.modeling.lora` (it rewrites a model); this name stays for old imports."""

from __future__ import annotations

from ..modeling.lora import enable_lora, has_lora, is_lora, merge_lora, merged_copy

__all__ = ["enable_lora", "has_lora", "is_lora", "merge_lora", "merged_copy"]
