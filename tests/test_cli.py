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


def test_classify_decisions_and_label_order(capsys) -> None:
    from uniclass.cli import main

    texts = ["Our team won", "Shares fell"]
    base = ["classify", *texts, "--labels", "sports,finance,weather", "--model", MODEL, "--threshold", "0"]
    assert main([*base, "--group", "sports,finance", "--label-order", "stable"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(sum(r["label"] in ("sports", "finance") for r in line["labels"]) == 1 for line in lines)
    assert main([*base, "--abstain", "1.0"]) == 0
    assert all(json.loads(line)["labels"] == [] for line in capsys.readouterr().out.splitlines())
    assert main([*base, "--max-labels", "1", "--label-order", "permutations", "--permutations", "2"]) == 0
    assert all(len(json.loads(line)["labels"]) == 1 for line in capsys.readouterr().out.splitlines())


def test_decision_errors_before_the_model_loads(capsys, monkeypatch) -> None:
    from uniclass import classifier
    from uniclass.cli import main

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    for extra, message in (
        (["--group", "sports,rain"], "'rain', which is not among --labels"),
        (["--min-labels", "3", "--max-labels", "1"], "larger than max_labels"),
        (["--abstain", "2"], "outside [0, 1]"),
        (["--permutations", "0", "--label-order", "permutations"], "permutations must be a positive int"),
    ):
        assert main(["classify", "x", "--labels", "sports,finance", "--model", MODEL, *extra]) == 2
        assert message in capsys.readouterr().err
