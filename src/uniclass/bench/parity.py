"""The official parity fixtures (``tests/fixtures/parity/<checkpoint>/expected.json``): which recorded calls the
batch-invariant implementation must reproduce.

Shared by the parity tests (``tests/test_parity.py``) and ``benchmarks/parity_report.py``, so the report and the
test bar select the same calls. Light: only the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXPECTED_FILE = "expected.json"
PADDING_SENSITIVE = "uni_bert_promptfirst_avg_wdot"  # official pooling averages over padding on this one


def checkpoints(parity_dir: Path) -> list[str]:
    """The checkpoint folders of ``parity_dir`` that carry recorded official outputs, sorted."""
    return sorted(p.name for p in Path(parity_dir).iterdir() if (p / EXPECTED_FILE).is_file())


def load_expected(parity_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((Path(parity_dir) / name / EXPECTED_FILE).read_text(encoding="utf-8"))


def multi_label(call: dict[str, Any]) -> bool | list[bool]:
    """The ``multi_label`` argument of a recorded call (official ``classification_type``, maybe per text)."""
    kind = call["kwargs"]["classification_type"]
    if isinstance(kind, list):
        return [k == "multi-label" for k in kind]
    return kind == "multi-label"


def has_padding(call: dict[str, Any]) -> bool:
    return any(len(set(batch["lengths"])) > 1 for batch in call["batches"])


def comparable_calls(parity_dir: Path) -> list[tuple[str, str]]:
    """Every (checkpoint, call) whose official result the mask-aware implementation must reproduce.

    Excluded by design: official errors; padded batches of padding-sensitive checkpoints (official pooling
    averages over padding there); and truncation calls where the official code cut label tokens.
    """
    cases = []
    for name in checkpoints(parity_dir):
        expected = load_expected(parity_dir, name)
        sensitive = name == PADDING_SENSITIVE
        for call in expected["calls"]:
            if call.get("error"):
                continue
            if sensitive and has_padding(call):
                continue
            if call["id"].endswith("maxlen24") and expected["architecture_type"] == "uni-encoder":
                continue
            cases.append((name, call["id"]))
    return cases
