"""``python -m uniclass_lab.corpora``: fetch and list the corpora."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
