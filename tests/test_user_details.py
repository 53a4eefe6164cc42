"""Small user-facing behaviours: file output keeps the input's fields, per-batch progress and an end summary,
quiet model loading, warnings for thresholds of unknown labels, ``LabelIndex`` at the top level."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = str(PARITY / "uni_bert_default")
LABELS = ["sports", "finance", "weather"]
BASE = ["--model", MODEL, "--labels", ",".join(LABELS), "--threshold", "0.3"]
TEXTS = [f"text {i}: the team won" + ", shares fell" * (i % 4) for i in range(7)]


def run(args: list[str]) -> int:
    from uniclass.cli import main

    return main(args)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ====================================================================== file output keeps the input's fields
def test_jsonl_output_keeps_the_input_fields_and_drop_fields_drops_them(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "body": text, "meta": {"n": i}} for i, text in enumerate(TEXTS)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out, plain = tmp_path / "out.jsonl", tmp_path / "plain.jsonl"
    assert run(["classify", "--input", str(src), "--text-column", "body", "--output", str(out), "--chunk-size", "3", *BASE]) == 0
    assert run(["classify", "--input", str(src), "--text-column", "body", "--output", str(plain), "--chunk-size", "3",
                "--drop-fields", *BASE]) == 0
    kept, dropped = read_jsonl(out), read_jsonl(plain)
    assert [r["id"] for r in kept] == [f"r{i}" for i in range(len(TEXTS))] and kept[4]["meta"] == {"n": 4}
    assert [sorted(r) for r in dropped] == [["labels", "text"]] * len(TEXTS)
    assert [{"text": r["text"], "labels": r["labels"]} for r in kept] == dropped  # same results either way


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_fields_of_csv_and_parquet_inputs_reach_jsonl_output(tmp_path: Path, source: str) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})
    src = tmp_path / f"in.{source}"
    frame.to_csv(src, index=False) if source == "csv" else frame.to_parquet(src, index=False)
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(src), "--output", str(out), "--chunk-size", "4", *BASE]) == 0
    ids = [r["id"] for r in read_jsonl(out)]
    assert ids == ([str(i) for i in range(len(TEXTS))] if source == "csv" else list(range(len(TEXTS))))


@pytest.mark.parametrize("out_format", ["csv", "parquet"])
def test_csv_and_parquet_output_of_an_input_with_an_id_field_keep_text_and_labels_only(
    tmp_path: Path, out_format: str
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(TEXTS)])
    reference, out = tmp_path / "reference.jsonl", tmp_path / f"out.{out_format}"
    assert run(["classify", "--input", str(src), "--output", str(reference), "--chunk-size", "3", *BASE]) == 0
    assert run(["classify", "--input", str(src), "--output", str(out), "--chunk-size", "3", *BASE]) == 0
    table = pd.read_csv(out) if out_format == "csv" else pd.read_parquet(out)
    assert list(table.columns) == ["text", "labels"]  # fixed columns: the id is not written
    labels = [json.loads(v) if out_format == "csv" else [dict(e) for e in v] for v in table["labels"]]
    expected = read_jsonl(reference)
    assert [r["id"] for r in expected] == [f"r{i}" for i in range(len(TEXTS))]
    assert list(table["text"]) == TEXTS
    assert labels == [r["labels"] for r in expected]


def test_an_input_field_named_like_an_output_field_is_a_one_line_error(tmp_path: Path, capsys: Any) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "labels": ["gold"]} for t in TEXTS])
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(src), "--output", str(out), *BASE]) == 2
    err = capsys.readouterr().err.strip()
    assert "'labels'" in err and "--drop-fields" in err and "\n" not in err
    assert run(["classify", "--input", str(src), "--output", str(out), "--drop-fields", *BASE]) == 0


# ====================================================================== progress per batch, summary at the end
def test_progress_moves_after_every_model_batch_and_scores_are_one_call_s() -> None:
    from uniclass import Classifier
    from uniclass.cli import _build_parser
    from uniclass.commands.classify import _chunk_classifier

    args = _build_parser().parse_args(["classify", *BASE, "--batch-size", "2", "--device", "cpu"])
    steps: list[int] = []
    results = _chunk_classifier(args, LABELS)(TEXTS, steps.append)
    assert [s for s in steps if s] == [2, 2, 2, 1]  # one step per batch of --batch-size texts, not one per chunk
    assert results == Classifier.from_pretrained(MODEL, device="cpu").classify(TEXTS, LABELS, threshold=0.3, batch_size=2)


def test_file_output_ends_with_a_summary(tmp_path: Path, capsys: Any) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS])
    out = tmp_path / "out.jsonl"
    assert run(["classify", "--input", str(src), "--output", str(out), *BASE]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"uniclass: classified {len(TEXTS)} texts in ") and "texts/s" in last and str(out) in last


# ====================================================================== quiet loading
def test_loading_draws_no_transformers_bars_and_restores_its_settings(tiny_backbone: Path, capfd: Any) -> None:
    from transformers.utils import logging as hf_logging

    from uniclass.backends import quiet_transformers
    from uniclass.backends.embedding import SentenceEmbedder

    before = hf_logging.is_progress_bar_enabled()  # other tests of the session may have switched them off
    hf_logging.enable_progress_bar()
    try:
        with quiet_transformers():
            assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.is_progress_bar_enabled()  # the caller's own transformers use keeps its bars
        hf_logging.disable_progress_bar()
        with quiet_transformers():
            pass
        assert not hf_logging.is_progress_bar_enabled()  # and a caller without bars stays without
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
    capfd.readouterr()
    SentenceEmbedder(tiny_backbone, max_length=32)
    assert "Loading weights" not in capfd.readouterr().err


# ====================================================================== thresholds of unknown labels
def test_a_threshold_for_a_label_not_in_the_set_warns(parity_classifier: Any) -> None:
    clf = parity_classifier("uni_bert_default")
    with pytest.warns(UserWarning, match="not in the label set.*'spam'"):
        clf.classify("the team won", LABELS, threshold={"spam": 0.8, "sports": 0.3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # labels of the set, and fitted thresholds (threshold=None), are quiet
        clf.classify("the team won", LABELS, threshold={"sports": 0.3})
        clf.classify(["a", "b"], LABELS, threshold=[{"sports": 0.2}, {"finance": 0.9}])


# ====================================================================== public names
def test_label_index_is_exported_from_the_package() -> None:
    import uniclass
    from uniclass.shortlist import LabelIndex

    assert uniclass.LabelIndex is LabelIndex and "LabelIndex" in uniclass.__all__
