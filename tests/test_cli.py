"""The `uniclass classify` command: JSON lines out, one-line errors with a non-zero exit code."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from tests.conftest import PARITY

MODEL = str(PARITY / "uni_bert_default")


def test_classify_arguments(capsys) -> None:
    from uniclass.cli import main

    assert main(["classify", "Our team won", "Shares fell", "--labels", "sports, finance", "--model", MODEL, "--threshold", "0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["Our team won", "Shares fell"]
    assert all({r["label"] for r in line["labels"]} == {"sports", "finance"} for line in lines)


def test_classify_stdin_single_label(monkeypatch, capsys) -> None:
    from uniclass.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("first text\n\nsecond text\n"))
    assert main(["classify", "--labels", "a,b,c", "--model", MODEL, "--single-label"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(len(line["labels"]) == 1 for line in lines)


def test_errors_are_one_line_with_exit_code() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uniclass.cli", "classify", "x", "--labels", "a,a", "--model", MODEL],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["uniclass: error: labels has the label 'a' twice; labels must be unique"]
