"""The training-data schema and its validation, with ``file:line`` in every error.

One item::

    {"text": "...", "all_labels": ["a", "b", "c"], "true_labels": ["a"]}       # multi-hot targets
    {"text": "...", "all_labels": ["a", "b"], "true_labels": {"a": 0.8}}      # soft targets (missing = 0)
    optional: "prompt": str, "examples": [{"text": str, "labels": [str]}]

Files are JSON (a list of items) or JSONL (one item per line). A ``datasets.Dataset`` (or any iterable of
dicts) with the same columns is accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import find_reserved_marker
from ..processing import check_example


@dataclass(frozen=True)
class Example:
    """A validated training item; ``targets`` holds a score in [0, 1] for every label of ``all_labels``."""

    text: str
    all_labels: tuple[str, ...]
    targets: tuple[float, ...]
    prompt: str = ""
    examples: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def true_labels(self) -> list[str]:
        return [label for label, t in zip(self.all_labels, self.targets) if t > 0]


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".xlsx")


class DataFormatError(ValueError):
    """A malformed training item; the message names the file and line (or the item index)."""


def load_examples(source: str | Path | Iterable[Mapping[str, Any]]) -> list[Example]:
    """Read and validate training items from a JSON/JSONL file or an iterable of dicts.

    Example:
        >>> rows = [{"text": "goal!", "all_labels": ["sports", "finance"], "true_labels": ["sports"]}]
        >>> load_examples(rows)[0].targets
        (1.0, 0.0)
    """
    if isinstance(source, (str, Path)):
        return list(_load_file(Path(source)))
    return [parse_example(item, f"item {i}") for i, item in enumerate(source)]


def load_training_examples(source: str | Path | Iterable[Mapping[str, Any]]) -> list[Example]:
    """``load_examples`` for a training or evaluation set: no items at all is an error naming the file (torch's
    sampler would fail later with "num_samples should be a positive integer value"). Light to import: the
    command line reads its files with it before torch and transformers are loaded."""
    examples = load_examples(source)
    if not examples:
        raise DataFormatError(f"{source if isinstance(source, (str, Path)) else 'the data'}: no items")
    return examples


def _load_file(path: Path) -> Iterable[Example]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in TABLE_SUFFIXES:  # read as JSON, a table fails on its header with a misleading message
        raise DataFormatError(
            f"{path}: training and evaluation files are JSON or JSONL items {{text, all_labels, true_labels}}, "
            f"not {path.suffix}"
        )
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad_line = raw.count(b"\n", 0, err.start) + 1
        raise DataFormatError(f"{path}:{bad_line}: not UTF-8 text (byte 0x{raw[err.start]:02x})") from None
    stripped = content.lstrip()
    if path.suffix == ".json" or stripped.startswith("["):
        try:
            items = json.loads(content)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
        if not isinstance(items, list):
            raise DataFormatError(f"{path}:1: expected a JSON list of items")
        for i, item in enumerate(items):
            yield parse_example(item, f"{path}: item {i}")
        return
    for lineno, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}:{lineno}: invalid JSON ({err.msg})") from err
        yield parse_example(item, f"{path}:{lineno}")


def parse_example(item: Any, where: str) -> Example:
    """Validate one item; ``where`` prefixes every error message."""
    if not isinstance(item, Mapping):
        raise DataFormatError(f"{where}: expected an object, got {type(item).__name__}")
    text = item.get("text")
    if not isinstance(text, str):
        raise DataFormatError(f"{where}: 'text' must be a string")
    all_labels = item.get("all_labels")
    if not isinstance(all_labels, list) or not all_labels:
        raise DataFormatError(f"{where}: 'all_labels' must be a non-empty list of strings")
    for label in all_labels:
        if not isinstance(label, str) or not label.strip():
            raise DataFormatError(f"{where}: 'all_labels' contains {label!r}; labels must be non-empty strings")
        _no_markers(label, where, "all_labels")
    if len(set(all_labels)) != len(all_labels):
        raise DataFormatError(f"{where}: 'all_labels' has duplicate labels")
    if "true_labels" not in item:  # a typo such as "true_label" would otherwise read as a wrong type
        raise DataFormatError(f"{where}: no 'true_labels' (keys: {sorted(map(str, item))})")
    targets = _targets(item["true_labels"], all_labels, where)
    prompt = item.get("prompt") or ""
    if not isinstance(prompt, str):
        raise DataFormatError(f"{where}: 'prompt' must be a string")
    examples = item.get("examples") or []
    if not isinstance(examples, list):
        raise DataFormatError(f"{where}: 'examples' must be a list of {{'text', 'labels'}} objects")
    try:
        # the same rules as at inference, checked here so that the error names the file and line
        examples = [check_example(e, f"examples[{j}]") for j, e in enumerate(examples)]
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"{where}: {err}") from None
    for value in (text, prompt):
        _no_markers(value, where, "text")
    return Example(text, tuple(all_labels), targets, prompt, tuple(examples))


def _targets(true_labels: Any, all_labels: list[str], where: str) -> tuple[float, ...]:
    if isinstance(true_labels, str):
        true_labels = [true_labels]
    if isinstance(true_labels, list):
        unknown = [t for t in true_labels if t not in all_labels]
        if unknown:
            raise DataFormatError(f"{where}: true label {unknown[0]!r} is not in 'all_labels'")
        chosen = set(true_labels)
        return tuple(1.0 if label in chosen else 0.0 for label in all_labels)
    if isinstance(true_labels, Mapping):
        for label, score in true_labels.items():
            if label not in all_labels:
                raise DataFormatError(f"{where}: true label {label!r} is not in 'all_labels'")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
                raise DataFormatError(f"{where}: soft score for {label!r} must be a number in [0, 1]")
        return tuple(float(true_labels.get(label, 0.0)) for label in all_labels)
    raise DataFormatError(f"{where}: 'true_labels' must be a list of labels or a dict label -> score")


def _no_markers(value: str, where: str, key: str) -> None:
    token = find_reserved_marker(value)
    if token is not None:
        raise DataFormatError(f"{where}: '{key}' contains the reserved marker {token!r}")


def write_jsonl(items: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write items as JSONL (UTF-8, one object per line)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path
