"""`uniclass classify` with files: JSONL/CSV/Parquet in and out, labels files, resume, progress, errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

MODEL = str(PARITY / "uni_bert_default")
TEXTS = [f"text number {i}: the team won, shares fell" if i % 2 else f'row {i} with "quotes",\na newline and ünïcode'
         for i in range(10)]
LABELS = ["sports", "finance", "weather"]
BASE = ["--model", MODEL, "--labels", ",".join(LABELS), "--threshold", "0.3"]




@pytest.fixture(scope="module")
def expected() -> list[Any]:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu").classify(TEXTS, LABELS, threshold=0.3)


def run(args: list[str]) -> int:
    from uniclass.cli import main

    return main(args)


def write_input(path: Path, column: str = "text") -> Path:
    frame = pd.DataFrame({"id": range(len(TEXTS)), column: TEXTS})
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in frame.to_dict("records")), encoding="utf-8")
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    """Rows as {"text", "labels"} whatever the format, so outputs can be compared across formats."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(frame.columns) == ["text", "labels"]
        return [{"text": t, "labels": json.loads(l)} for t, l in zip(frame["text"], frame["labels"], strict=True)]
    frame = pd.read_parquet(path)
    return [{"text": t, "labels": [dict(x) for x in l]} for t, l in zip(frame["text"], frame["labels"], strict=True)]


def assert_rows(rows: list[dict[str, Any]], expected: list[Any]) -> None:
    assert [r["text"] for r in rows] == TEXTS
    for row, want in zip(rows, expected, strict=True):
        assert [x["label"] for x in row["labels"]] == [x["label"] for x in want]
        assert [x["score"] for x in row["labels"]] == pytest.approx([x["score"] for x in want], abs=1e-5)


@pytest.mark.parametrize("source", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("target", ["jsonl", "csv", "parquet"])
def test_formats_in_and_out(tmp_path: Path, expected: list[Any], source: str, target: str) -> None:
    src = write_input(tmp_path / f"in.{source}", column="body")
    out = tmp_path / f"out.{target}"
    assert run(["classify", "--input", str(src), "--text-column", "body", "--output", str(out), "--chunk-size", "3", *BASE]) == 0
    assert_rows(read_output(out), expected)


def test_format_option_and_default_stdout(tmp_path: Path, expected: list[Any], capsys: Any) -> None:
    src = write_input(tmp_path / "in.data.csv")
    out = tmp_path / "results.txt"
    assert run(["classify", "--input", str(src), "--output", str(out), "--format", "jsonl", *BASE]) == 0
    assert_rows(read_output(out.rename(tmp_path / "results.jsonl")), expected)
    assert run(["classify", "--input", str(src), *BASE]) == 0  # stdout is not a terminal here: JSON lines
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert_rows(lines, expected)
    assert run(["classify", "--input", str(src), "--format", "csv", *BASE]) == 0
    assert capsys.readouterr().out.startswith("text,labels\n")


def test_table_output(capsys: Any) -> None:
    assert run(["classify", "Our team won", "--format", "table", "--threshold", "0", "--model", MODEL, "--labels", "sports,finance"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("TEXT") and "LABELS" in out[0]
    assert out[1].startswith("Our team won") and "sports" in out[1] and "finance" in out[1]


def test_labels_file_and_single_label(tmp_path: Path, capsys: Any) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("sports, games\n\nfinance\n", encoding="utf-8")  # a label with a comma
    assert run(["classify", "a", "b", "--model", MODEL, "--labels-file", str(labels), "--single-label", "--top-k", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(line["labels"]) for line in lines] == [2, 2]
    assert {r["label"] for r in lines[0]["labels"]} == {"sports, games", "finance"}
    assert sum(r["score"] for r in lines[0]["labels"]) == pytest.approx(1.0)


@pytest.mark.parametrize("target", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("chunk", [2, 3])
def test_resume_skips_rows_already_written(tmp_path: Path, expected: list[Any], target: str, chunk: int) -> None:
    """10 rows, cut to 4, resumed: 10 rows again, the same file to the byte.

    With chunks of 2 the cut falls on a chunk boundary (as a real interruption does). With chunks of 3 it does
    not: row 3 is dropped and classified again with rows 4-5, so every text is batched as in the uninterrupted
    run (the classifier is batch-invariant only up to ~1e-6, not bitwise).
    """
    src = write_input(tmp_path / "in.jsonl")
    out = tmp_path / f"out.{target}"
    args = ["classify", "--input", str(src), "--output", str(out), "--chunk-size", str(chunk), *BASE]
    assert run(args) == 0
    full, full_bytes = read_output(out), out.read_bytes()
    keep_first_rows(out, 4)
    assert read_output(out) == full[:4]
    assert run([*args, "--resume"]) == 0
    resumed = read_output(out)
    assert_rows(resumed, expected)
    assert resumed == full and out.read_bytes() == full_bytes


@pytest.mark.parametrize("target", ["jsonl", "csv", "parquet"])
def test_resume_after_a_torn_row_restarts_at_a_chunk_boundary(
    tmp_path: Path, capsys: Any, monkeypatch: Any, target: str
) -> None:
    """Killed in the middle of its last chunk (chunks of 4: rows 8-9), with row 8 written and row 9 torn:
    --resume drops row 8 too and classifies the whole chunk again, so its texts go to the model in the same
    call as in the uninterrupted run (scores are batch-invariant only up to ~1e-6 with real models), and the
    file is the uninterrupted run's, byte for byte. Parquet commits whole chunks (a part is complete or absent):
    there the kill leaves two parts and the chunk in flight as a temporary file."""
    from uniclass import tabular_io as uio
    from uniclass.classifier import Classifier

    calls: list[list[str]] = []
    classify = Classifier.classify

    def recording(self: Any, texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(texts))
        return classify(self, texts, *args, **kwargs)

    monkeypatch.setattr(Classifier, "classify", recording)
    src = write_input(tmp_path / "in.jsonl")
    out = tmp_path / f"out.{target}"
    args = ["classify", "--input", str(src), "--output", str(out), "--chunk-size", "4", *BASE]
    assert run(args) == 0
    full, rows, uninterrupted = out.read_bytes(), read_output(out), calls[:]
    if target == "parquet":
        out.unlink()
        sink = uio.open_sink(out, "parquet")
        for start in (0, 4):
            sink.write(TEXTS[start : start + 4], [row["labels"] for row in rows[start : start + 4]])
        (uio.parts_folder(out) / "part-000002.tmp").write_bytes(full[:100])  # the chunk in flight; never closed
        assert uio.resume_point(out, target, 4) == uio.ResumePoint(8, 8, 4)
    else:
        out.write_bytes(full[:-20])  # 20 bytes short: the last row is torn
        point = uio.resume_point(out, target, 4)
        assert (point.rows, point.keep, point.redone) == (9, 8, 1)
    capsys.readouterr()
    calls.clear()
    assert run([*args, "--resume"]) == 0
    assert calls == uninterrupted[2:] == [TEXTS[8:]]  # the last chunk, whole, in one call
    assert out.read_bytes() == full
    err = capsys.readouterr().err
    assert "resuming: 8 rows already in" in err
    assert ("1 row of an unfinished chunk of 4 classified again" in err) == (target != "parquet")


def keep_first_rows(path: Path, n: int) -> None:
    """Truncate an output file to its first n rows (as an interrupted run would leave it)."""
    if path.suffix == ".parquet":
        pd.read_parquet(path).head(n).to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).head(n)
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")


def test_resume_cuts_a_half_written_row(tmp_path: Path, capsys: Any) -> None:
    src = write_input(tmp_path / "in.jsonl")
    for suffix in ("jsonl", "csv"):
        out = tmp_path / f"out.{suffix}"
        args = ["classify", "--input", str(src), "--output", str(out), *BASE]
        assert run(args) == 0
        full = out.read_bytes()
        out.write_bytes(full[: len(full) // 2])  # killed in the middle of a write
        assert run([*args, "--resume"]) == 0
        assert out.read_bytes() == full, suffix
    assert "resuming" in capsys.readouterr().err


def test_resume_with_nothing_left_and_with_too_many_rows(tmp_path: Path, capsys: Any) -> None:
    src = write_input(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    args = ["classify", "--input", str(src), "--output", str(out), *BASE]
    assert run(args) == 0
    before = out.read_bytes()
    assert run([*args, "--resume"]) == 0 and out.read_bytes() == before
    out.write_bytes(before + before)
    capsys.readouterr()
    assert run([*args, "--resume"]) == 2
    assert "has 20 rows but the input has only 10" in capsys.readouterr().err


def test_interrupted_run_keeps_finished_chunks(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """Ctrl-C (or SIGTERM) on the third chunk: the two finished chunks are in the file, and resume completes it."""
    from uniclass.classifier import Classifier

    original, calls = Classifier.classify, []

    def flaky(self: Any, texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, texts, *args, **kwargs)

    src = write_input(tmp_path / "in.jsonl")
    for suffix in ("jsonl", "parquet"):
        calls.clear()
        out = tmp_path / f"out.{suffix}"
        args = ["classify", "--input", str(src), "--output", str(out), "--chunk-size", "3", *BASE]
        monkeypatch.setattr(Classifier, "classify", flaky)
        assert run(args) == 130
        assert len(read_output(out)) == 6, suffix
        monkeypatch.setattr(Classifier, "classify", original)
        assert run([*args, "--resume"]) == 0
        reference = tmp_path / f"reference.{suffix}"
        assert run(["classify", "--input", str(src), "--output", str(reference), "--chunk-size", "3", *BASE]) == 0
        assert read_output(out) == read_output(reference)  # identical to an uninterrupted run, to the bit
        assert not (tmp_path / "out.parquet.partial").exists()
    assert "interrupted" in capsys.readouterr().err


def test_progress_bar_on_stderr(tmp_path: Path, capsys: Any) -> None:
    src = write_input(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(src), "--output", str(out), "--chunk-size", "4", "--progress", *BASE]) == 0
    err = capsys.readouterr().err
    assert "uniclass" in err and "10/10" in err and "text" in err
    assert len(read_output(out)) == 10


def test_stdin_streams_in_chunks(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(t.replace("\n", " ") + "\n" for t in TEXTS)))
    assert run(["classify", "--chunk-size", "4", *BASE]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 10


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input", "missing.jsonl"], "--input missing.jsonl: no such file"),
        (["--input", "{in_txt}"], "cannot tell the format from the extension"),
        (["--input", "{in_csv}", "--text-column", "body"], "no column 'body' (columns: id, text)"),
        (["--input", "{in_jsonl}", "--text-column", "body"], "no 'body' field"),
        (["--input", "{in_parquet}", "--text-column", "body"], "no column 'body'"),
        (["--input", "{bad_jsonl}"], ":2: not valid JSON"),
        (["x", "--resume"], "--resume needs --output FILE"),
        (["x", "--format", "parquet"], "Parquet output needs --output FILE"),
        (["x", "--output", "{tmp}/out.xlsx"], "cannot tell the format"),
        (["x", "--output", "{tmp}/no/such/dir/out.jsonl"], "does not exist"),
        (["x", "--input", "{in_jsonl}"], "not both"),
        (["x", "--chunk-size", "0"], "--chunk-size must be >= 1"),
        (["x", "--top-k", "0"], "top_k must be a positive int"),
        (["x", "--threshold", "2"], "outside [0, 1]"),
        (["x", "--labels-file", "{empty}"], "no labels"),
        (["x", "--prompt", "a <<SEP>> b"], "reserved marker"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, capsys: Any, extra: list[str], message: str) -> None:
    paths = {"tmp": str(tmp_path)}
    for fmt in ("csv", "jsonl", "parquet"):
        paths[f"in_{fmt}"] = str(write_input(tmp_path / f"in.{fmt}"))
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    (tmp_path / "empty.txt").write_text("\n")
    paths.update(in_txt=str(tmp_path / "in.txt"), bad_jsonl=str(tmp_path / "bad.jsonl"), empty=str(tmp_path / "empty.txt"))
    extra = [arg.format(**paths) for arg in extra]
    labels = [] if "--labels-file" in extra else ["--labels", "a,b"]
    assert run(["classify", *extra, "--model", MODEL, *labels]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uniclass: error: ") and message in err[0], err


def test_bad_label_or_column_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert run(["classify", "x", "--model", MODEL, "--labels", "a,a", "--output", str(out)]) == 2
    assert not out.exists()
    src = write_input(tmp_path / "in.csv")
    assert run(["classify", "--input", str(src), "--text-column", "body", "--model", MODEL, "--labels", "a", "--output", str(out)]) == 2
    assert not out.exists()


def test_usage_errors_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "uniclass.cli", "classify", "x", "--model", MODEL],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 2 and "one of the arguments --labels --labels-file is required" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["classify", "--help"], ["serve", "--help"]])
def test_help_does_not_import_torch(argv: list[str]) -> None:
    code = (
        "import sys\nfrom uniclass.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'fastapi', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: uniclass" in result.stdout


def test_sigterm_leaves_a_complete_parquet_file(tmp_path: Path) -> None:
    """`kill` during a long run: the Parquet footer is still written and the rows finished so far are kept."""
    import signal

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"text {i}"}) + "\n" for i in range(5000)), encoding="utf-8")
    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    command = [sys.executable, "-m", "uniclass.cli", "classify", "--input", str(src), "--output", str(out),
               "--chunk-size", "5", *BASE]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (parts.is_dir() and len(list(parts.glob("part-*.parquet"))) > 3):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "uniclass: interrupted"
    rows = pd.read_parquet(out)
    assert 0 < len(rows) < 5000 and len(rows) % 5 == 0 and rows["text"].tolist() == [f"text {i}" for i in range(len(rows))]
    assert not parts.exists() and not (tmp_path / "out.parquet.partial").exists()


def test_kill_9_then_resume_loses_at_most_one_chunk(tmp_path: Path) -> None:
    """`kill -9` (no cleanup at all) in every output format: --resume completes the file, no row lost or doubled."""
    import signal

    src = tmp_path / "in.jsonl"
    texts = [f"text {i}" for i in range(3000)]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"out.{fmt}"
        args = ["classify", "--input", str(src), "--output", str(out), "--chunk-size", "5", *BASE]
        process = subprocess.Popen([sys.executable, "-m", "uniclass.cli", *args], stderr=subprocess.DEVNULL,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
        parts = tmp_path / f"out.{fmt}.parts"
        deadline = time.monotonic() + 120
        while not ((parts.is_dir() and len(list(parts.glob("*.parquet"))) > 3) or (out.exists() and out.stat().st_size > 2000)):
            assert process.poll() is None and time.monotonic() < deadline, fmt
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert run([*args, "--resume"]) == 0, fmt
        assert [row["text"] for row in read_output(out)] == texts, fmt
        assert not parts.exists()


def test_output_that_is_the_input_is_refused(tmp_path: Path, capsys: Any) -> None:
    src = write_input(tmp_path / "in.jsonl")
    before = src.read_bytes()
    alias = tmp_path / "sub" / ".." / "in.jsonl"
    (tmp_path / "sub").mkdir()
    assert run(["classify", "--input", str(src), "--output", str(alias), *BASE]) == 2
    assert "is the input file" in capsys.readouterr().err and src.read_bytes() == before


def test_input_problems_are_one_line_with_file_and_line(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(bad), "--output", str(out), *BASE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:2: not valid UTF-8" in err[0] and not out.exists()
    assert run(["classify", "bad \ud800", *BASE]) == 2
    assert "texts[0] contains a lone surrogate" in capsys.readouterr().err


def test_cr_only_line_endings_resume(tmp_path: Path, expected: list[Any]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes("".join(json.dumps({"text": t}, ensure_ascii=False) + "\r" for t in TEXTS).encode())
    out = tmp_path / "out.jsonl"
    args = ["classify", "--input", str(src), "--output", str(out), "--chunk-size", "2", *BASE]
    assert run(args) == 0
    full = out.read_text(encoding="utf-8")
    keep_first_rows(out, 4)
    assert run([*args, "--resume"]) == 0
    assert out.read_text(encoding="utf-8") == full and len(full.splitlines()) == len(TEXTS)


@pytest.mark.parametrize("damage", ["truncated_weights", "config_types", "no_tokenizer", "local_typo"])
def test_checkpoint_problems_are_one_line(tmp_path: Path, capsys: Any, monkeypatch: Any, damage: str) -> None:
    import shutil

    folder = tmp_path / "ck"
    shutil.copytree(MODEL, folder)
    model = str(folder)
    if damage == "truncated_weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
        message = "model.safetensors: not a readable safetensors file"
    elif damage == "config_types":
        config = json.loads((folder / "config.json").read_text())
        config["encoder_config"]["max_position_embeddings"] = "1024"
        (folder / "config.json").write_text(json.dumps(config))
        message = "encoder_config.max_position_embeddings must be an integer"
    elif damage == "no_tokenizer":
        (folder / "tokenizer.json").unlink()
        message = "has no tokenizer.json"
    else:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "runs").mkdir()
        model = "runs/typo"  # must not be tried as a hub id
        message = "runs/typo is not a checkpoint folder"
    assert run(["classify", "x", "--model", model, "--labels", "a,b"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_labels_file_with_thousands_of_labels_is_shortlisted(tmp_path: Path, capsys: Any) -> None:
    """More than 256 labels: shortlisted by default (auto k), so each text is one pass of k labels, not 3,000."""
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"topic {i}\n" for i in range(3000)) + "sports\nfinance\n", encoding="utf-8")
    args = ["classify", "the team won", "shares fell", "--model", MODEL, "--labels-file", str(labels),
            "--retriever", "model", "--threshold", "0.0"]
    assert run(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    from uniclass.shortlist import default_k

    assert [len(line["labels"]) for line in lines] == [default_k(3002)] * 2
    assert run([*args, "--shortlist", "5"]) == 0
    assert [len(json.loads(line)["labels"]) for line in capsys.readouterr().out.splitlines()] == [5, 5]


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_bad_shortlist_option(tmp_path: Path, value: str) -> None:
    from uniclass.commands.classify import resolve_shortlist

    with pytest.raises(ValueError, match="--shortlist"):
        resolve_shortlist(value, 10)
    assert resolve_shortlist(None, 10) is None and resolve_shortlist(None, 300) == "auto"
    assert resolve_shortlist("off", 300) is None and resolve_shortlist("7", 10) == 7
