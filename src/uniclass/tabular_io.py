"""Files in and out of ``uniclass classify``: JSONL, CSV and Parquet texts, results written chunk by chunk.

Everything here streams: inputs are read ``chunk_size`` rows at a time and every written chunk is flushed,
so a large file never sits in memory and an interrupted run loses at most the chunk in flight. Resuming
counts the complete rows already in the output, keeps the whole chunks of them (the rows of an unfinished
chunk and a half-written trailing row are dropped and classified again), and appends.

pandas and pyarrow (the ``io`` extra) are imported only when a CSV or Parquet file is touched.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol, TextIO

FORMATS = ("jsonl", "csv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
OUTPUT_COLUMNS = ("text", "labels")
Result = list[dict[str, Any]] | dict[str, Any]  # labels with scores, or a tree of them (``classify --as-tree``)


# ====================================================================== formats and optional dependencies
def detect_format(
    path: str | Path | Sequence[str | Path],
    explicit: str | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    hint: str = "--format",
) -> str:
    """The file format: ``explicit`` if given, else from the extension (a clear error if neither says).

    The one extension rule of uniclass (``classify --input/--output`` and the Ray Data job): ``path`` may also be
    a sequence of paths (the first one decides) or a local folder (the one format its files share). Only
    ``formats`` are accepted; ``hint`` names the option that sets the format explicitly.
    """
    if explicit:
        return explicit
    first = str(path if isinstance(path, (str, Path)) else next(iter(path), ""))
    names = (
        " or ".join([", ".join(f".{f}" for f in formats[:-1]), f".{formats[-1]}"])
        if len(formats) > 1
        else f".{formats[0]}"
    )
    if "://" not in first and Path(first).is_dir():
        found = {
            _SUFFIXES[p.suffix.lower()] for p in Path(first).rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
        }
        found &= set(formats)
        if len(found) == 1:
            return found.pop()
        what = f"files of several formats ({', '.join(sorted(found))})" if found else f"no {names} files"
        raise ValueError(f"{first}: the folder holds {what}; pass {hint}")
    fmt = _SUFFIXES.get(Path(first).suffix.lower())
    if fmt is None or fmt not in formats:
        raise ValueError(f"{first}: cannot tell the format from the extension; use {names} (or {hint})")
    return fmt


def _require(module: str) -> Any:
    """Import pandas/pyarrow on demand, naming the extra to install when they are missing."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError as err:
        raise ImportError(f"CSV and Parquet files need pandas and pyarrow: pip install 'uniclass[io]' ({err})") from err


# ====================================================================== reading texts
def read_labels_file(path: str | Path) -> list[str]:
    """One label per line; blank lines are ignored, so labels may contain commas."""
    labels = [line.strip() for line in _labels_text(path).splitlines()]
    labels = [label for label in labels if label]
    if not labels:
        raise ValueError(f"{path}: no labels (expected one label per line)")
    _check_labels(labels, path)
    return labels


def read_labels(path: str | Path) -> list[str] | dict[str, Any]:
    """``uniclass classify --labels-file``: a ``.json`` file holds a JSON list of labels or a JSON object, a label
    tree (``{"sentiment": ["positive", "negative"], "news": null}``, see ``processing.flatten_label_tree``);
    any other file holds one label per line (``read_labels_file``)."""
    if Path(path).suffix.lower() != ".json":
        return read_labels_file(path)
    try:
        labels = json.loads(_labels_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(labels, (list, dict)) or not labels:
        raise ValueError(f"{path}: expected a non-empty JSON list of labels or a JSON object (a label tree)")
    _check_labels(labels, path)
    return labels


def _check_labels(labels: list[Any] | dict[str, Any], path: str | Path) -> None:
    """The classifier's label checks, here so that the error names the file (it would name only ``labels``)."""
    from .processing import check_label_list, flatten_label_tree

    try:
        check_label_list(flatten_label_tree(labels), "labels")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def _labels_text(path: str | Path) -> str:
    """A labels file's text; one that is not UTF-8 is a one-line error naming it and the first bad byte."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not valid UTF-8 (byte {err.object[err.start]:#04x} at offset {err.start}): save it as UTF-8"
        ) from None


def parse_labels(value: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``."""
    labels = [label.strip() for label in value.split(",") if label.strip()]
    if not labels:
        raise ValueError("--labels is empty: give comma-separated labels, e.g. 'positive,negative'")
    return labels


def count_rows(path: str | Path, fmt: str, column: str) -> int:
    """Rows in an input file, for the progress bar's total and ETA (no model, no JSON parsing).

    It reads the whole file once, so a line that is not UTF-8 fails here, with its file:line, before any
    output is written.
    """
    if fmt == "parquet":
        return _parquet_file(Path(path)).metadata.num_rows
    if fmt == "csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        except UnicodeDecodeError:
            for _ in _decoded_lines(Path(path)):  # raises with the line number
                pass
            raise
    return sum(1 for _, line in _decoded_lines(Path(path)) if line.strip())


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file with any line endings (\\n, \\r\\n or a lone \\r, as Python's
    universal newlines); a line that is not UTF-8 is an error naming file:line."""
    number = 0
    with open(path, "rb") as handle:
        for raw in handle:
            for piece in raw.splitlines() if b"\r" in raw else [raw.rstrip(b"\n")]:
                number += 1
                try:
                    yield number, piece.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise ValueError(f"{path}:{number}: not valid UTF-8 (byte {err.start} of the line)") from None


def iter_text_chunks(path: str | Path, fmt: str, column: str, chunk_size: int, skip: int = 0) -> Iterator[list[str]]:
    """The texts of an input file, in chunks, after the first ``skip`` rows (see ``rechunk``).

    An empty CSV cell is an empty text, so that output row ``i`` always belongs to input row ``i`` (which is
    what makes ``--resume`` line up); a JSON or Parquet null is an error naming its row, as a number is: a
    missing text is more likely a broken export than an empty one.
    """
    readers = {"jsonl": _iter_jsonl, "csv": _iter_csv, "parquet": _iter_parquet}
    return rechunk(readers[fmt](Path(path), column, chunk_size), chunk_size, skip)


def iter_field_chunks(
    path: str | Path, fmt: str, column: str, chunk_size: int, skip: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """The input's other fields (every field or column but the text's), chunked exactly as ``iter_text_chunks``.

    JSONL output writes them next to each result, so results join back to the input (an ``id``, say). Read in
    step with the texts; a line the text reader accepted is a JSON object or a string (a string has no fields).
    """
    readers = {"jsonl": _iter_jsonl_fields, "csv": _iter_csv_fields, "parquet": _iter_parquet_fields}
    return rechunk(readers[fmt](Path(path), column, chunk_size), chunk_size, skip)


def _iter_jsonl_fields(path: Path, column: str, chunk_size: int) -> Iterator[dict[str, Any]]:
    for _, line in _decoded_lines(path):
        if line.strip():
            item = json.loads(line)
            yield {key: value for key, value in item.items() if key != column} if isinstance(item, dict) else {}


def _iter_csv_fields(path: Path, column: str, chunk_size: int) -> Iterator[dict[str, Any]]:
    pandas = _require("pandas")
    for frame in pandas.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_size):
        yield from frame.drop(columns=[column]).to_dict("records")


def _iter_parquet_fields(path: Path, column: str, chunk_size: int) -> Iterator[dict[str, Any]]:
    parquet = _require("pyarrow.parquet")
    for batch in parquet.ParquetFile(path).iter_batches(batch_size=chunk_size):
        for row in batch.to_pylist():
            row.pop(column, None)
            yield row


def rechunk(texts: Iterable[Any], chunk_size: int, skip: int = 0) -> Iterator[list[Any]]:
    """Lists of ``chunk_size`` texts after dropping the first ``skip``, lazily (stdin and big files stream).

    Chunks stay aligned to multiples of ``chunk_size`` from the start of the input (the first chunk after a
    resume is shorter), so a run resumed after an interruption -- which always stops at a chunk boundary --
    batches every text exactly as an uninterrupted run would and writes the same bytes.
    """
    iterator = iter(texts)
    for _ in islice(iterator, skip):
        pass
    size = chunk_size - skip % chunk_size
    while chunk := list(islice(iterator, size)):
        yield chunk
        size = chunk_size


def _iter_jsonl(path: Path, column: str, chunk_size: int) -> Iterator[str]:
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from None
        yield _text_of(item, column, f"{path}:{number}")


def _text_of(item: Any, column: str, where: str) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise TypeError(f"{where}: expected a JSON object with a {column!r} field, got {type(item).__name__}")
    if column not in item:
        raise ValueError(f"{where}: no {column!r} field (choose the field with --text-column)")
    value = item[column]
    if value is None:
        raise ValueError(f'{where}: {column!r} is null; give a text ("" for an empty one) or drop the row')
    if not isinstance(value, str):
        raise TypeError(f"{where}: {column!r} must be a string, got {type(value).__name__}")
    return value


def _iter_csv(path: Path, column: str, chunk_size: int) -> Iterator[str]:
    pandas = _require("pandas")
    try:
        header = pandas.read_csv(path, nrows=0).columns
    except pandas.errors.EmptyDataError:
        raise ValueError(f"{path}: the CSV file is empty (it needs a header row naming its columns)") from None
    except (pandas.errors.ParserError, ValueError) as err:
        raise ValueError(f"{path}: not a readable CSV file ({_first_line(err)})") from None
    if column not in header:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(map(str, header))}); use --text-column")
    frames = pandas.read_csv(path, usecols=[column], dtype=str, keep_default_na=False, chunksize=chunk_size)
    try:
        for frame in frames:
            yield from frame[column].tolist()
    except pandas.errors.ParserError as err:  # e.g. a quote that is never closed
        raise ValueError(f"{path}: not a readable CSV file ({_first_line(err)})") from None


def _iter_parquet(path: Path, column: str, chunk_size: int) -> Iterator[str]:
    handle = _parquet_file(path)
    names = handle.schema_arrow.names
    if column not in names:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(names)}); use --text-column")
    row = 0
    for batch in handle.iter_batches(batch_size=chunk_size, columns=[column]):
        for value in batch.column(0).to_pylist():
            if value is None:
                raise ValueError(
                    f'{path}: row {row + 1}: {column!r} is null; give a text ("" for an empty one) or drop the row'
                )
            if not isinstance(value, str):
                raise ValueError(f"{path}: column {column!r} must hold strings, got {type(value).__name__}")
            row += 1
            yield value


def _parquet_file(path: Path) -> Any:
    """``pyarrow.parquet.ParquetFile``; a file that is not Parquet is a one-line error naming it."""
    parquet = _require("pyarrow.parquet")
    try:
        return parquet.ParquetFile(path)
    except (OSError, ValueError) as err:  # pyarrow.ArrowInvalid is a ValueError
        if isinstance(err, OSError) and getattr(err, "filename", None):
            raise
        raise ValueError(f"{path}: not a readable Parquet file ({_first_line(err)})") from None


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


# ====================================================================== resuming
@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run continues an output file.

    ``rows`` are the complete rows in it; ``keep`` the rows the resumed run keeps: the whole chunks of
    ``chunk_size`` among them. The rows of an unfinished chunk are classified again with the rest, so every text
    is batched exactly as in an uninterrupted run and the output is the same byte for byte (the classifier is
    batch-invariant only up to float rounding). ``end`` is the byte offset where the kept rows end in a JSONL
    or CSV file that has more after them (None: nothing to cut).
    """

    rows: int
    keep: int
    chunk_size: int = 1
    end: int | None = None

    @property
    def redone(self) -> int:
        """Complete rows dropped because their chunk was unfinished (they are classified again)."""
        return self.rows - self.keep


def resume_point(path: str | Path, fmt: str, chunk_size: int = 1) -> ResumePoint:
    """The complete rows already in an output file, and the whole chunks of them a resumed run keeps.

    JSONL and CSV rows are complete when their line ends (a half-written trailing row, from a killed run, is
    not one); Parquet output is committed chunk by chunk to ``FILE.parts/`` (see ``ParquetSink``): when that
    folder exists (a killed run), its parts are the rows, each a whole chunk. Nothing is changed on disk:
    ``cut_to_resume_point`` does that, once the caller has checked the rows against its input.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "out.jsonl"
        >>> _ = out.write_text('{"text": "a"}\\n{"text": "b"}\\n{"text": "c"}\\n{"te')  # killed in row 4
        >>> resume_point(out, "jsonl", chunk_size=2)
        ResumePoint(rows=3, keep=2, chunk_size=2, end=28)
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    path = Path(path)
    if fmt == "parquet" and parts_folder(path).is_dir():
        parquet = _require("pyarrow.parquet")
        rows = sum(parquet.ParquetFile(part).metadata.num_rows for part in _part_files(parts_folder(path)))
        return ResumePoint(rows, rows, chunk_size)  # committed parts are whole chunks of the run that wrote them
    if not path.exists() or path.stat().st_size == 0:
        return ResumePoint(0, 0, chunk_size)
    if fmt == "parquet":
        try:
            rows = _require("pyarrow.parquet").ParquetFile(path).metadata.num_rows
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot resume: {path} is not a readable Parquet file ({err})") from None
        return ResumePoint(rows, rows - rows % chunk_size, chunk_size)
    rows = keep = end = 0
    for rows, row_end in _csv_row_ends(path) if fmt == "csv" else _jsonl_row_ends(path):
        if rows % chunk_size == 0:  # the end of a whole chunk
            keep, end = rows, row_end
    return ResumePoint(rows, keep, chunk_size, end if end < path.stat().st_size else None)


def cut_to_resume_point(path: str | Path, fmt: str, point: ResumePoint) -> None:
    """Leave only the ``point.keep`` rows in the output, so that a resumed run appends after whole chunks.

    JSONL and CSV files are truncated. A finished Parquet file (no ``FILE.parts/``) becomes parts of
    ``point.chunk_size`` rows, as the run that wrote it committed them, which the resumed run's ``ParquetSink``
    continues; they appear all at once (a folder renamed), so a kill meanwhile leaves the file as it was.
    """
    path = Path(path)
    if fmt != "parquet":
        if point.end is not None:
            with open(path, "r+b") as handle:
                handle.truncate(point.end)
        return
    if parts_folder(path).is_dir() or not path.exists() or path.stat().st_size == 0:
        return
    pa, parquet = _require("pyarrow"), _require("pyarrow.parquet")
    schema = _output_schema(pa)
    table = parquet.read_table(path, schema=schema)
    staging = path.with_name(path.name + ".parts.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for index, start in enumerate(range(0, point.keep, point.chunk_size)):
        rows = table.slice(start, point.chunk_size)
        chunk = {name: rows.column(name).to_pylist() for name in OUTPUT_COLUMNS}
        _commit_part(parquet, pa.table(chunk, schema=schema), staging / f"part-{index:06d}.parquet")
    os.replace(staging, parts_folder(path))


def _jsonl_row_ends(path: Path) -> Iterator[tuple[int, int]]:
    """(rows so far, byte offset) at the start and after each complete row (its line ended)."""
    rows = end = 0
    yield rows, end
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            end += len(line)
            if line.strip():
                rows += 1
                yield rows, end


def _csv_row_ends(path: Path) -> Iterator[tuple[int, int]]:
    """(data rows so far, byte offset) after the header and after each complete row.

    Texts may contain newlines inside quotes, so rows are found with the csv parser while the byte offset
    of each physical line is tracked alongside; a row is complete only if its last line ends with a newline.
    """
    position = {"end": 0, "newline": True}

    def lines() -> Iterator[str]:
        with open(path, "rb") as handle:
            for raw in handle:
                position["end"] += len(raw)
                position["newline"] = raw.endswith(b"\n")
                yield raw.decode("utf-8")

    rows, header = 0, None
    try:
        for record in csv.reader(lines()):
            if not position["newline"]:
                return
            if header is None:
                header = record
                if tuple(header) != OUTPUT_COLUMNS:
                    raise ValueError(f"cannot resume: {path} does not start with the header {','.join(OUTPUT_COLUMNS)}")
            else:
                rows += 1
            yield rows, position["end"]
    except csv.Error:  # the file ends inside a quoted text: that row is incomplete
        return


# ====================================================================== writing results
class Sink(Protocol):
    """Where results go; ``write`` must leave every row it was given durable before returning.

    ``fields`` are the input rows' other fields (an id, ...): JSONL output writes them before each result; the
    CSV, Parquet and terminal outputs have fixed columns (``text``, ``labels``) and accept but ignore them.
    """

    def write(
        self, texts: Sequence[str], results: Sequence[Result], fields: Sequence[dict[str, Any]] | None = None
    ) -> None: ...

    def close(self) -> None: ...


def open_sink(path: str | Path | None, fmt: str, *, append: bool = False, stream: TextIO | None = None) -> Sink:
    """A writer for ``fmt`` on a file (``append`` continues it) or on ``stream`` (stdout)."""
    if path is None:
        stream = stream or sys.stdout
        if fmt == "parquet":
            raise ValueError("Parquet output needs --output FILE (it is not written to a terminal or pipe)")
        if fmt == "table":
            return TableSink(stream)
        return JsonlSink(stream) if fmt == "jsonl" else CsvSink(stream, header=True)
    if fmt == "table":
        raise ValueError("--format table is for the terminal; write jsonl, csv or parquet with --output")
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"{path.parent} does not exist (the folder for --output)")
    if fmt == "parquet":
        return ParquetSink(path, append=append)
    header = fmt == "csv" and not (append and path.exists() and path.stat().st_size > 0)
    handle = open(path, "a" if append else "w", encoding="utf-8", newline="")  # noqa: SIM115 - the sink owns and closes it
    return JsonlSink(handle, owned=True) if fmt == "jsonl" else CsvSink(handle, header=header, owned=True)


class JsonlSink:
    """``{"text": ..., "labels": [{"label", "score"}, ...]}`` per line (the historical default output), after the
    input row's other fields when ``write`` is given them (``fields``), so results join back to the input."""

    def __init__(self, handle: TextIO, owned: bool = False):
        self.handle, self.owned = handle, owned

    def write(
        self, texts: Sequence[str], results: Sequence[Result], fields: Sequence[dict[str, Any]] | None = None
    ) -> None:
        rows = fields if fields is not None else [{}] * len(texts)
        # default=str: Parquet inputs may hold dates or decimals, which JSON has no type for
        lines = (
            json.dumps({**extra, "text": t, "labels": r}, ensure_ascii=False, default=str) + "\n"
            for t, r, extra in zip(texts, results, rows, strict=True)
        )
        self.handle.write("".join(lines))
        self.handle.flush()

    def close(self) -> None:
        if self.owned:
            self.handle.close()


class CsvSink:
    """Columns ``text`` and ``labels`` (the JSON list of ``{"label", "score"}``, as in JSONL output)."""

    def __init__(self, handle: TextIO, header: bool, owned: bool = False):
        self.handle, self.header, self.owned = handle, header, owned
        self.pandas = _require("pandas")

    def write(
        self, texts: Sequence[str], results: Sequence[Result], fields: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """``fields`` is ignored: this output has only the ``text`` and ``labels`` columns."""
        # csv's minimal quoting leaves a lone "\r" unquoted, which every reader takes for a line break: such
        # rows are written fully quoted (the same CSV content; other rows keep the usual bytes)
        plain = csv.writer(self.handle, lineterminator="\n")
        quoted = csv.writer(self.handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if self.header:
            plain.writerow(OUTPUT_COLUMNS)
            self.header = False
        for text, result in zip(texts, results, strict=True):
            (quoted if "\r" in text else plain).writerow([text, json.dumps(result, ensure_ascii=False)])
        self.handle.flush()

    def close(self) -> None:
        if self.header:  # nothing was written: still leave a valid CSV with its header
            self.write([], [])
        if self.owned:
            self.handle.close()


class ParquetSink:
    """Each chunk a committed Parquet file in ``FILE.parts/``; ``close`` joins them into ``FILE``.

    A Parquet file is unreadable until its footer is written, so one growing file would lose everything to a
    ``kill -9``. Instead every chunk is written to ``FILE.parts/part-NNNNNN.parquet`` (written under a temporary
    name and renamed, so a part is complete or absent) and ``close`` (also on Ctrl-C, SIGTERM or an error)
    writes ``FILE`` from the parts (one row group per chunk) and removes the folder. After a ``kill -9`` the
    parts remain and ``--resume`` continues from them: at most the chunk in flight is lost, as with JSONL/CSV.
    While a ``FILE.parts/`` folder exists it, not ``FILE``, holds the run's rows.
    """

    def __init__(self, path: Path, append: bool = False):
        self.pa = _require("pyarrow")
        self.pq = _require("pyarrow.parquet")
        self.path, self.partial, self.parts = path, path.with_name(path.name + ".partial"), parts_folder(path)
        self.schema = _output_schema(self.pa)
        if not append:
            shutil.rmtree(self.parts, ignore_errors=True)
        resuming_parts = append and self.parts.is_dir()
        self.parts.mkdir(exist_ok=True)
        for stale in self.parts.glob("*.tmp"):
            stale.unlink()
        self.count = len(_part_files(self.parts))
        if append and not resuming_parts and path.exists() and path.stat().st_size > 0:
            self._commit(self.pq.read_table(path, schema=self.schema))  # the finished file's rows come first

    def write(
        self, texts: Sequence[str], results: Sequence[Result], fields: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """``fields`` is ignored: this output has only the ``text`` and ``labels`` columns."""
        self._commit(self.pa.table({"text": list(texts), "labels": list(results)}, schema=self.schema))

    def _commit(self, table: Any) -> None:
        _commit_part(self.pq, table, self.parts / f"part-{self.count:06d}.parquet")
        self.count += 1

    def close(self) -> None:
        writer = self.pq.ParquetWriter(self.partial, self.schema)
        try:
            for part in _part_files(self.parts):
                writer.write_table(self.pq.read_table(part, schema=self.schema))
        finally:
            writer.close()
        os.replace(self.partial, self.path)
        shutil.rmtree(self.parts, ignore_errors=True)


def _output_schema(pa: Any) -> Any:
    """The Parquet output's columns: the text, and its labels with scores."""
    return pa.schema(
        [
            ("text", pa.string()),
            ("labels", pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))),
        ]
    )


def _commit_part(parquet: Any, table: Any, final: Path) -> None:
    """Write ``table`` as the part ``final``: under a temporary name, synced, then renamed (complete or absent)."""
    temporary = final.with_suffix(".tmp")
    parquet.write_table(table, temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)


def parts_folder(path: Path) -> Path:
    """Where ``ParquetSink`` commits an unfinished run's chunks."""
    return path.with_name(path.name + ".parts")


def _part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


class TableSink:
    """A readable two-column table for a terminal: the text (shortened) and its labels with scores."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        width = shutil.get_terminal_size((100, 24)).columns
        self.text_width = max(20, min(60, width // 2))
        self.started = False

    def write(
        self, texts: Sequence[str], results: Sequence[Result], fields: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """``fields`` is ignored: this output has only the ``text`` and ``labels`` columns."""
        if not self.started:
            self.stream.write(f"{'TEXT':<{self.text_width}}  LABELS\n")
            self.started = True
        for text, result in zip(texts, results, strict=True):
            shown = " ".join(text.split())
            if len(shown) > self.text_width:
                shown = shown[: self.text_width - 1] + "…"
            entries = _tree_entries(result) if isinstance(result, dict) else [(r["label"], r["score"]) for r in result]
            labels = "  ".join(f"{label} {score:.3f}" for label, score in entries) or "-"
            self.stream.write(f"{shown:<{self.text_width}}  {labels}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def _tree_entries(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """A ``classify --as-tree`` result as (dotted path, score) pairs, each parent before its children."""
    out: list[tuple[str, float]] = []
    for name, node in tree.items():
        path = f"{prefix}.{name}" if prefix else name
        out.append((path, node["score"]))
        out.extend(_tree_entries(node.get("children", {}), path))
    return out
