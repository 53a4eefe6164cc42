"""``python -m uniclass.data.corpora``: the same as ``uniclass data``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
