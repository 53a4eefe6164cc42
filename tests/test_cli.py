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


# ---------------------------------------------------------------- hierarchy (--hierarchy, --as-tree, .json trees)
TREE_TEXTS = ["The battery died after an hour", "Shares fell after the call"]
DOTTED = "product.battery,product.screen,finance.stocks,weather"


def _library(**options):
    from uniclass import Classifier
    from uniclass.processing import label_tree_from_paths

    clf = Classifier.from_pretrained(MODEL, device="cpu")
    return clf.classify(TREE_TEXTS, label_tree_from_paths(DOTTED.split(",")), threshold=0.3, **options)


def test_classify_hierarchy_from_dotted_labels(capsys) -> None:
    from uniclass.cli import main

    assert main(["classify", *TREE_TEXTS, "--labels", DOTTED, "--hierarchy", "--threshold", "0.3", "--model", MODEL]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["labels"] for line in lines] == _library(hierarchy=True)
    for line in lines:
        score = {r["label"]: r["score"] for r in line["labels"]}
        for label, value in score.items():
            if "." in label:  # a kept child brings its parent, never scored below it
                assert score[label.split(".")[0]] >= value


def test_classify_as_tree_from_a_json_tree(tmp_path, capsys) -> None:
    from uniclass.cli import main

    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps({"product": ["battery", "screen"], "finance": {"stocks": None}, "weather": None}))
    base = ["classify", *TREE_TEXTS, "--labels-file", str(tree), "--threshold", "0.3", "--model", MODEL]
    assert main([*base, "--as-tree"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["labels"] for line in lines] == _library(as_tree=True)
    assert main([*base, "--as-tree", "--format", "table", "--threshold", "0"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "product " in table[1] and "product.battery " in table[1] and "finance.stocks " in table[1]
    assert main([*base, "--format", "jsonl"]) == 0  # a tree without --hierarchy: its flattened labels, no parents
    flat = {r["label"] for line in capsys.readouterr().out.splitlines() for r in json.loads(line)["labels"]}
    assert flat <= {"product.battery", "product.screen", "finance.stocks", "weather"}


def test_hierarchy_errors_before_the_model_loads(tmp_path, capsys, monkeypatch) -> None:
    from uniclass import classifier
    from uniclass.cli import main

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "num.json").write_text('{"a": 3}')
    for extra, message in (
        (["--labels", "sport,sport.football", "--hierarchy"], "'sport' is also the parent of 'sport.football'"),
        (["--labels", "a..b", "--as-tree"], "empty level"),
        (["--labels", DOTTED, "--hierarchy", "--shortlist", "2"], "--shortlist needs flat labels"),
        (["--labels", DOTTED, "--as-tree", "--output", str(tmp_path / "out.parquet")], "--as-tree writes a tree"),
        (["--labels", DOTTED, "--hierarchy", "--group", "product.battery,weather.rain"], "'weather.rain', which is not"),
        (["--labels-file", str(tmp_path / "bad.json")], "not valid JSON"),
        (["--labels-file", str(tmp_path / "num.json"), "--hierarchy"], "labels must be str, list or dict"),
        (["--labels", "a,b", "--engine", "ray", "--as-tree", "--input", "x.parquet", "--output", "o"], "--as-tree"),
    ):
        assert main(["classify", "x", "--model", MODEL, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err, (extra, err)
    assert not (tmp_path / "out.parquet").exists()
