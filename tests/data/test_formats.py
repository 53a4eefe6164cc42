"""Training-file validation: malformed items are reported with file and line."""

from __future__ import annotations

import json

import pytest

from uniclass.data.formats import DataFormatError, load_examples, write_jsonl

GOOD = {"text": "goal", "all_labels": ["sports", "finance"], "true_labels": ["sports"]}


def test_jsonl_json_and_soft_targets(tmp_path) -> None:
    soft = {"text": "x", "all_labels": ["a", "b"], "true_labels": {"b": 0.25}, "prompt": "p"}
    path = write_jsonl([GOOD, soft], tmp_path / "train.jsonl")
    examples = load_examples(path)
    assert examples[0].targets == (1.0, 0.0) and examples[1].targets == (0.0, 0.25) and examples[1].prompt == "p"
    (tmp_path / "train.json").write_text(json.dumps([GOOD]))
    assert load_examples(tmp_path / "train.json")[0].true_labels == ["sports"]
    with_examples = {**GOOD, "examples": [{"text": "e", "true_labels": "finance"}, {"text": "f", "labels": []}]}
    loaded = load_examples([with_examples])[0].examples  # the inference rules: normalised, negatives kept
    assert loaded == ({"text": "e", "labels": ["finance"]}, {"text": "f", "labels": []})


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"all_labels": ["a"], "true_labels": []}), "'text'"),
        (json.dumps({"text": "x", "all_labels": [], "true_labels": []}), "all_labels"),
        (json.dumps({"text": "x", "all_labels": ["a", "a"], "true_labels": []}), "duplicate"),
        (json.dumps({"text": "x", "all_labels": ["a"], "true_labels": ["b"]}), "not in 'all_labels'"),
        (json.dumps({"text": "x", "all_labels": ["a"], "true_labels": {"a": 2}}), r"\[0, 1\]"),
        (json.dumps({"text": "x", "all_labels": ["a<<SEP>>"], "true_labels": []}), "reserved marker"),
        (json.dumps({"text": "x", "all_labels": ["a"], "true_labels": 3}), "true_labels"),
        (json.dumps(["a list"]), "expected an object"),
        (json.dumps({**GOOD, "examples": [{"text": "e", "label": "sports"}]}), r"examples\[0\] has no 'labels'"),
        (json.dumps({**GOOD, "examples": [{"labels": ["sports"]}]}), r"examples\[0\] has no 'text'"),
        (json.dumps({**GOOD, "examples": [{"text": "e", "labels": [3]}]}), r"examples\[0\]\['labels'\] must be"),
        (json.dumps({**GOOD, "examples": [{"text": "<<SEP>>", "labels": []}]}), "reserved marker"),
        (json.dumps({**GOOD, "examples": {"text": "e", "labels": []}}), "'examples' must be a list"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line: str, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")
    with pytest.raises(DataFormatError, match=match) as info:
        load_examples(path)
    assert f"{path}:3" in str(info.value)


def test_iterable_of_dicts_reports_item_index() -> None:
    with pytest.raises(DataFormatError, match="item 1"):
        load_examples([GOOD, {"text": 1}])
