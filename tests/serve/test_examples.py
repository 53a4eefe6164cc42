"""Few-shot examples on the server take the Python API's keys ('labels' or 'true_labels') with its meaning, and
are refused with its messages, naming the example."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["great battery", "the screen cracked"]
LABELS = ["positive", "negative"]


@pytest.fixture(scope="module")
def client(clf: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from uniclass.serve.app import create_app

    with TestClient(create_app(clf, refusal_share=1.0, max_example_chars=40)) as client:
        yield client


def classify(client: Any, examples: list[dict[str, Any]]) -> Any:
    body = {"texts": TEXTS, "labels": LABELS, "threshold": 0.0, "examples": examples}
    return client.post("/v1/classify", json=body)


@pytest.mark.parametrize(
    "examples",
    [
        [{"text": "awful", "true_labels": ["negative"]}],  # was 422: "body.examples.0.true_labels: Extra inputs"
        [{"text": "awful", "true_labels": ["negative"]}, {"text": "nothing", "true_labels": []}],
        [{"text": "awful", "labels": ["negative"], "true_labels": ["positive"]}],  # 'labels' wins, as in Python
    ],
)
def test_examples_take_the_python_keys_with_the_same_meaning(client: Any, clf: Any, examples: Any) -> None:
    response = classify(client, examples)
    assert response.status_code == 200, response.text
    expected = clf.classify(TEXTS, LABELS, threshold=0.0, examples=examples)
    got = response.json()["results"]
    assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in expected]
    for row, want in zip(got, expected, strict=True):
        assert [r["score"] for r in row] == pytest.approx([r["score"] for r in want], abs=1e-5)
    as_labels = [{"text": e["text"], "labels": e.get("labels", e.get("true_labels"))} for e in examples]
    assert got == classify(client, as_labels).json()["results"]


def test_explain_takes_true_labels(client: Any) -> None:
    body = {"texts": TEXTS, "labels": LABELS, "examples": [{"text": "awful", "true_labels": ["negative"]}]}
    response = client.post("/v1/explain", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == len(TEXTS)


@pytest.mark.parametrize(
    "examples",
    [
        [{"text": "awful"}],  # no labels key at all: was pydantic's "body.examples.0.labels: Field required"
        [{"text": "fine", "labels": ["positive"]}, {"text": "awful", "true_labels": [" "]}],
        [{"text": "awful", "true_labels": ["negative<<LABEL>>"]}],
        [{"text": " ", "true_labels": ["negative"]}],
        [{"text": "awful", "labels": None}],
    ],
)
def test_bad_examples_get_the_python_message_naming_the_example(client: Any, clf: Any, examples: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as raised:
        clf.classify(TEXTS, LABELS, examples=examples)
    response = classify(client, examples)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"] == str(raised.value)
    assert error["message"].startswith("examples[")


def test_the_example_size_limit_counts_true_labels(client: Any) -> None:
    response = classify(client, [{"text": "awful", "true_labels": ["negative" * 5]}])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "example_too_long" and error["message"].startswith("examples[0] has 45 characters")
