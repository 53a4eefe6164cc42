"""`uniclass explain`: JSON lines equal to ``Classifier.explain``, texts from arguments or stdin, readable text."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = str(PARITY / "uni_bert_default")
TEXTS = ["The striker scored twice. Shares fell 5% after the call!", "no punctuation here at all just words"]
LABELS = ["sports", "finance"]


def run(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    from uniclass.cli import main

    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert {k: v for k, v in got.items() if k != "labels"} == {k: v for k, v in want.items() if k != "labels"}
    for g, w in zip(got["labels"], want["labels"], strict=True):
        assert g["label"] == w["label"] and g["score"] == pytest.approx(w["score"], abs=1e-6)
        assert g["deltas"] == pytest.approx(w["deltas"], abs=1e-6)


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")


def test_jsonl_equals_explain(capsys: pytest.CaptureFixture[str], clf: Any) -> None:
    code, out, _ = run(["explain", *TEXTS, "--labels", "sports,finance", "--model", MODEL, "--single-label"], capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    want = clf.explain(TEXTS, LABELS, multi_label=False)
    for got, expected in zip(rows, want, strict=True):
        assert_same(got, expected.to_dict())


def test_stdin_chunks_and_text_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, clf: Any) -> None:
    args = ["explain", "--labels", "sports,finance", "--model", MODEL, "--unit", "chunk", "--chunk-tokens", "3",
            "--max-units", "3"]
    code, out, _ = run(args, capsys, stdin=TEXTS[1] + "\n\n", monkeypatch=monkeypatch)
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert_same(row, clf.explain(TEXTS[1], LABELS, unit="chunk", chunk_tokens=3, max_units=3).to_dict())
    code, out, _ = run(["explain", TEXTS[0], "--labels", "sports", "--model", MODEL, "--format", "text"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0] == TEXTS[0] and lines[1].startswith("  sports: ")
    assert [line.strip().split("  ", 1)[1] for line in lines[2:]] == ["The striker scored twice.", "Shares fell 5% after the call!"]


def test_bad_unit_count_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["explain", "a. b.", "--labels", "x", "--model", MODEL, "--max-units", "0"], capsys)
    assert code == 2 and "max_units" in err
