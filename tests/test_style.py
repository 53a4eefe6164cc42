"""The enforced style of ``src/``: ``ruff check``, ``ruff format --check`` and ``mypy`` find nothing.

Each tool runs with this repository's settings (``[tool.ruff]`` and ``[tool.mypy]`` in pyproject.toml) from the
interpreter running the tests (the ``lint`` extra, which ``test`` includes, installs both), and a failure prints
the findings. Two more tests plant a finding in a scratch file and check the same commands report it, so a
configuration that silently checks nothing cannot pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mypy  # noqa: F401  (the lint extra installs it: a missing checker fails here rather than skipping)
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CONFIG = ROOT / "pyproject.toml"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def _findings(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_ruff_check_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-fix", "--config", str(CONFIG), str(SRC))
    assert result.returncode == 0, _findings(result)


def test_ruff_format_would_change_nothing() -> None:
    result = _run("ruff", "format", "--check", "--config", str(CONFIG), str(SRC))
    assert result.returncode == 0, _findings(result)


def test_mypy_finds_nothing() -> None:
    # no paths: `files` in [tool.mypy] says what is checked (src/uniclass)
    result = _run("mypy", "--config-file", str(CONFIG))
    assert result.returncode == 0, _findings(result)
    assert "Success: no issues found" in result.stdout


@pytest.fixture
def bad_module(tmp_path: Path) -> Path:
    """A module with one lint finding (an unused import) and one type error (an int returned as str)."""
    path = tmp_path / "bad.py"
    path.write_text('import os\n\n\ndef name() -> str:\n    return 1\n', encoding="utf-8")
    return path


def test_ruff_reports_a_planted_finding(bad_module: Path) -> None:
    result = _run("ruff", "check", "--no-fix", "--no-cache", "--config", str(CONFIG), str(bad_module))
    assert result.returncode == 1, _findings(result)
    assert "F401" in result.stdout


def test_mypy_reports_a_planted_error(bad_module: Path, tmp_path: Path) -> None:
    result = _run("mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"), str(bad_module))
    assert result.returncode == 1, _findings(result)
    assert "[return-value]" in result.stdout
