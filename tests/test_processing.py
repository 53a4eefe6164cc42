"""Input layouts (official strings), text spans, windows and label groups."""

from __future__ import annotations

from typing import Any

import pytest
from transformers import AutoTokenizer

from tests.conftest import PARITY, load_expected
from uniclass.processing import (
    encode_layouts,
    format_examples,
    fused_layout,
    normalize_request,
    split_evenly,
    text_windows,
    uni_encoder_layout,
)


@pytest.mark.parametrize("name", ["uni_bert_default", "uni_deberta_default", "uni_bert_promptfirst_avg_wdot"])
def test_layouts_equal_official_strings(name: str) -> None:
    import json

    expected = load_expected(name)
    prompt_first = json.loads((PARITY / name / "config.json").read_text())["prompt_first"]
    for call in expected["calls"]:
        if call["id"] not in ("L8_multi", "L8_multi_prompt", "L3_multi_examples"):
            continue
        examples = format_examples(call["kwargs"].get("examples") or [])
        prompt = call["kwargs"].get("prompt") or ""
        built = [uni_encoder_layout(t, call["labels"], prompt, examples, prompt_first).string for t in call["texts"]]
        assert built == call["formatted_inputs"]


def test_text_span_locates_text_tokens() -> None:
    tokenizer = AutoTokenizer.from_pretrained(PARITY / "uni_bert_default")
    text = "Our team won the final"
    for prompt_first in (True, False):
        layout = uni_encoder_layout(text, ["sports", "finance"], "Topic:", "", prompt_first)
        encoded = encode_layouts(tokenizer, [layout])[0]
        text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert encoded.ids[encoded.text_start : encoded.text_end] == text_ids
        assert encoded.with_text(0, 2)[encoded.text_start : encoded.text_start + 2] == text_ids[:2]
    empty = encode_layouts(tokenizer, [uni_encoder_layout("", ["a"], "", "", False)])[0]
    assert empty.text_tokens == 0 and empty.text_start == 1  # right after [CLS]


def test_fused_layout_has_one_marker_per_label() -> None:
    layout = fused_layout("text", ["a", "b", "c"], "prompt", "", prompt_first=False)
    assert layout.string == "text" + "prompt " + "<<LABEL>>" * 3 + "<<SEP>>"
    assert layout.string[layout.text_start : layout.text_end] == "text"


def test_text_windows() -> None:
    assert text_windows(10, 20, chunk=False, overlap=0) == [(0, 10)]
    assert text_windows(30, 20, chunk=False, overlap=0) == [(0, 20)]
    assert text_windows(30, 10, chunk=True, overlap=2) == [(0, 10), (8, 18), (16, 26), (24, 30)]
    windows = text_windows(1000, 100, chunk=True, overlap=20)
    assert windows[-1][1] == 1000 and all(b - a <= 100 for a, b in windows)


def test_split_evenly() -> None:
    assert split_evenly(list("abcdefg"), 3) == [list("abc"), list("de"), list("fg")]
    assert sum(split_evenly(list(range(10)), 4), []) == list(range(10))


def test_request_normalisation() -> None:
    request = normalize_request("text", {"a": ["x", "y"]}, prompt="p", multi_label=False)
    assert request.single_text and request.labels == [["a.x", "a.y"]] and request.prompts == ["p"]
    assert request.multi_label == [False]
    per_text = normalize_request(["t1", "t2"], [["x"], ["y", "z"]], examples=[[{"text": "e", "true_labels": "x"}], None])
    assert per_text.labels == [["x"], ["y", "z"]]
    assert per_text.examples == [[{"text": "e", "labels": ["x"]}], []]


@pytest.mark.parametrize(
    ("example", "error", "match"),
    [
        # a typo'd key would otherwise become an example with no labels, losing the user's label silently
        (
            {"text": "Great screen", "label": "positive"},
            ValueError,
            r"examples\[1\] has no 'labels' \(keys: \['label', 'text'\]\)",
        ),
        ({"labels": ["x"]}, ValueError, r"examples\[1\] has no 'text'"),
        ({"text": " \n", "labels": ["x"]}, ValueError, r"examples\[1\]\['text'\] is empty"),
        ({"text": "e", "labels": ["x", " "]}, ValueError, r"examples\[1\]\['labels'\]\[1\] is an empty label"),
        ({"text": 3, "labels": ["x"]}, TypeError, r"examples\[1\]\['text'\] must be a str, got int"),
        ({"text": "e", "true_labels": [1]}, TypeError, r"examples\[1\]\['true_labels'\] must be a list of str"),
        ("e", TypeError, r"examples\[1\] must be a dict with 'text' and 'labels'"),
    ],
)
def test_a_malformed_example_is_a_one_line_error_naming_it(example: Any, error: type, match: str) -> None:
    good = {"text": "e", "labels": ["x"]}
    with pytest.raises(error, match=match) as info:
        normalize_request("t", ["x"], examples=[good, example])
    assert "\n" not in str(info.value)
    with pytest.raises(error, match=match.replace(r"examples\[1\]", r"examples\[0\]\[1\]")):
        normalize_request(["t"], ["x"], examples=[[good, example]])


def test_an_example_with_an_empty_label_list_is_a_negative_example() -> None:
    request = normalize_request("t", ["x"], examples=[{"text": "e", "labels": []}, {"text": "f", "true_labels": []}])
    assert request.examples == [[{"text": "e", "labels": []}, {"text": "f", "labels": []}]]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        # one text or a list of texts: the message names both, not just "a list" (a None text is the usual case)
        ({"texts": None}, "texts must be a str or a list of str, got NoneType"),
        ({"texts": b"bytes"}, "texts must be a str or a list of str, got bytes"),
        ({"labels": None}, r"labels must be a list of str \(or a list per text, or a dict tree\), got NoneType"),
        ({"multi_label": "no"}, r"multi_label must be a bool or a list of them \(one per text\), got str"),
        # None was read as True silently
        ({"multi_label": None}, r"multi_label must be a bool or a list of them \(one per text\), got NoneType"),
        ({"multi_label": [None]}, r"multi_label\[0\] must be bool, got NoneType"),
        ({"prompt": 3}, r"prompt must be a str or a list of them \(one per text\), got int"),
        ({"examples": {"text": "e", "labels": ["x"]}}, "examples must be a list of dicts with 'text' and 'labels'"),
    ],
)
def test_a_wrong_type_names_what_is_accepted(change: dict[str, Any], match: str) -> None:
    call: dict[str, Any] = {"texts": "t", "labels": ["x"], **change}
    with pytest.raises(TypeError, match=match):
        normalize_request(call.pop("texts"), call.pop("labels"), **call)


def test_a_prompt_of_none_is_no_prompt() -> None:
    assert normalize_request(["t", "u"], ["x"], prompt=None).prompts == ["", ""]
    assert normalize_request(["t", "u"], ["x"], prompt=["p", None]).prompts == ["p", ""]
