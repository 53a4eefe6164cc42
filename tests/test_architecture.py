"""The import contract of the package ([tool.importlinter] in pyproject.toml, docs/architecture.md) holds.

``lint-imports`` runs on the source tree of this checkout (not on whatever copy is installed), the product
(``src/uniclass``) and the lab (``lab/uniclass_lab``) together, and a second test plants a forbidden import in a copy of the package to show the contract really catches one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import importlinter  # noqa: F401  (the test extra installs it: a missing linter fails here rather than skipping)
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LAB = ROOT / "lab"
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` against the package under ``src``, with this repository's contract."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(LAB), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_contract_is_kept() -> None:
    result = _lint(SRC)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("backends/torch_backend.py", "from ..classifier import Classifier"),  # an arrow back up from backends
        ("training/losses.py", "from ..cli import main"),  # from training up to the command line
        ("engine.py", "from .training import Trainer"),  # the engine must not know training
        ("commands/eval.py", "import uniclass_lab.corpora"),  # the product must not reach into the lab
    ],
)
def test_import_contract_catches_a_forbidden_import(tmp_path: Path, module: str, forbidden: str) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC / "uniclass", copy / "uniclass", ignore=shutil.ignore_patterns("models", "__pycache__"))
    target = copy / "uniclass" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{forbidden}  # noqa\n", encoding="utf-8")
    result = _lint(copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
