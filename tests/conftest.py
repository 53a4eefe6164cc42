from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
PARITY = FIXTURES / "parity"
PARITY_CHECKPOINTS = sorted(p.name for p in PARITY.iterdir() if (p / "expected.json").is_file())

torch.set_num_threads(2)


def load_expected(name: str) -> dict[str, Any]:
    return json.loads((PARITY / name / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def parity_classifier():
    """Classifier per parity checkpoint, loaded once per session."""
    from uniclass import Classifier

    cache: dict[str, Classifier] = {}

    def get(name: str) -> Classifier:
        if name not in cache:
            cache[name] = Classifier.from_pretrained(PARITY / name, device="cpu")
        return cache[name]

    return get
