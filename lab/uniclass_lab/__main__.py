"""``python -m uniclass_lab``: the lab's command line (:mod:`uniclass_lab.cli`)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
