"""Fuzzing the JSONL/CSV readers (hypothesis): any texts written by a standard writer read back exactly, with
the row count that ``--resume`` relies on; arbitrary bytes give a one-line ValueError/TypeError, never a crash."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
pd = pytest.importorskip("pandas")
from hypothesis import given, settings
from hypothesis import strategies as st

from uniclass import tabular_io as uio

texts = st.lists(st.text(max_size=20), min_size=0, max_size=8)


def read_back(path: Path, fmt: str) -> tuple[int, list[str]]:
    return uio.count_rows(path, fmt, "text"), [t for chunk in uio.iter_text_chunks(path, fmt, "text", 3) for t in chunk]


@settings(max_examples=150, deadline=None)
@given(values=texts, ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_jsonl_round_trip(values: list[str], ending: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.jsonl"
        path.write_bytes("".join(json.dumps({"text": v}, ensure_ascii=False) + ending for v in values).encode("utf-8", "surrogatepass"))
        if any("\ud800" <= c <= "\udfff" for v in values for c in v):
            return  # not valid UTF-8: covered by the bytes test
        count, read = read_back(path, "jsonl")
        assert count == len(values) and read == values


def valid(values: list[str]) -> list[str]:
    return [v.replace("\x00", "") for v in values if not any("\ud800" <= c <= "\udfff" for c in v)]


@settings(max_examples=150, deadline=None)
@given(values=texts)
def test_csv_round_trip(values: list[str]) -> None:
    values = valid(values)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(["id", "text"])
            writer.writerows(enumerate(values))
        count, read = read_back(path, "csv")
        assert read == values and count == len(values)


@settings(max_examples=100, deadline=None)
@given(values=texts, fmt=st.sampled_from(["jsonl", "csv"]))
def test_our_output_reads_back_and_resumes(values: list[str], fmt: str) -> None:
    """What the sinks write is read back exactly, resume_point counts every row (the --resume contract), and
    cutting to whole chunks of 3 leaves exactly those rows."""
    values = valid(values)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"out.{fmt}"
        sink = uio.open_sink(path, fmt)
        sink.write(values, [[{"label": "x", "score": 0.5}]] * len(values))
        sink.close()
        assert uio.resume_point(path, fmt) == uio.ResumePoint(len(values), len(values))
        assert read_back(path, fmt)[1] == values
        point = uio.resume_point(path, fmt, chunk_size=3)
        assert (point.rows, point.keep) == (len(values), len(values) - len(values) % 3)
        uio.cut_to_resume_point(path, fmt, point)
        assert uio.resume_point(path, fmt).rows == point.keep
        if point.keep:
            assert read_back(path, fmt)[1] == values[: point.keep]


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=80), fmt=st.sampled_from(["jsonl", "csv"]))
def test_arbitrary_bytes_fail_cleanly(raw: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"in.{fmt}"
        path.write_bytes(raw)
        try:
            read_back(path, fmt)
        except (ValueError, TypeError) as err:
            assert "\n" not in str(err).strip() or fmt == "csv", str(err)
