"""HTTP service for a GLiClass model: ``uniclass serve`` or ``create_app`` from ``uniclass.serve.app``.

Nothing is imported here, so the command line can read ``limits`` without loading FastAPI or torch.
"""

from __future__ import annotations
