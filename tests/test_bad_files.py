"""Broken checkpoints and input files: each is one line on stderr naming the file, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from uniclass import cli

from .conftest import PARITY


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("uniclass: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def negative_hidden_size(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["encoder_config"]["hidden_size"] = -384
    (folder / "config.json").write_text(json.dumps(config))


def weights_directory(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()


@pytest.mark.parametrize(
    ("name", "breaks", "named"),
    [
        ("negative-size", negative_hidden_size, "config.json"),
        ("tokenizer", lambda f: (f / "tokenizer.json").write_text("{not json"), "tokenizer.json"),
        ("calibration", lambda f: (f / "calibration.json").write_text("{not json"), "calibration.json"),
        ("weights-dir", weights_directory, "model.safetensors"),
    ],
)
def test_a_broken_checkpoint_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, breaks: Callable[[Path], None], named: str
) -> None:
    folder = tmp_path / name
    shutil.copytree(PARITY / "uni_bert_default", folder)
    breaks(folder)
    (tmp_path / "in.jsonl").write_text("{\"text\": \"a text\"}\n")
    err = run_cli(["classify", "--model", str(folder), "--input", str(tmp_path / "in.jsonl"), "--labels", "a,b"], capsys)
    assert str(folder / named) in err


def test_a_corrupt_prior_reference_names_the_file(tmp_path: Path) -> None:
    from uniclass.backends.embedding import PriorError, load_reference

    path = tmp_path / "prior_reference.safetensors"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(PriorError, match="prior_reference.safetensors: not a readable safetensors file"):
        load_reference(path)


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("empty.csv", b"", "the CSV file is empty"),
        ("quote.csv", b'text\n"unterminated\nmore\n', "not a readable CSV file"),
        ("garbage.parquet", b"PAR1 not really parquet " * 4, "not a readable Parquet file"),
        ("null.jsonl", b'{"text": "ok"}\n{"text": null}\n', ":2: 'text' is null"),
    ],
)
def test_a_bad_input_file_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str,
                                                content: bytes, message: str) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / filename
    path.write_bytes(content)
    err = run_cli(["classify", "--model", str(PARITY / "uni_bert_default"), "--input", str(path), "--labels", "a,b"], capsys)
    assert str(path) in err and message in err


def test_a_null_parquet_text_is_an_error_naming_its_row(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from uniclass.tabular_io import iter_text_chunks

    path = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"text": ["a", None, "c"]}), path)
    with pytest.raises(ValueError, match=r"texts.parquet: row 2: 'text' is null"):
        list(iter_text_chunks(path, "parquet", "text", 8))


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
@pytest.mark.parametrize("option", ["--input", "--output"])
def test_a_symlink_loop_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str) -> None:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "in.jsonl").write_text("{\"text\": \"a text\"}\n")
    paths = {"--input": str(tmp_path / "in.jsonl"), "--output": str(tmp_path / "out.jsonl"), option: str(tmp_path / "loop1")}
    err = run_cli(["classify", "--model", str(PARITY / "uni_bert_default"), "--labels", "a,b",
                   "--input", paths["--input"], "--output", paths["--output"]], capsys)
    assert option in err and "loop1" in err
