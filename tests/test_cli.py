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


def test_a_multi_line_library_error_is_printed_on_one_line(monkeypatch, capsys) -> None:
    """E.g. the hub client's offline error spans two lines; the CLI promises one."""
    from uniclass import cli

    def run(args) -> int:
        raise OSError("Got: ConnectError\nAn error happened while trying to locate the files on the Hub.\n")

    monkeypatch.setattr(cli._command("serve"), "run", run)
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "uniclass: error: Got: ConnectError / An error happened while trying to locate the files on the Hub."]
