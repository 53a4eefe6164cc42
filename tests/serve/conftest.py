"""Fixtures shared by the HTTP tests of the service."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serve.live_server import MODEL


@pytest.fixture(scope="module")
def clf() -> Any:
    """The parity checkpoint on the CPU, loaded once per test module (a module may define its own ``clf``)."""
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")
