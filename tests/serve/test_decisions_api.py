"""/v1/classify with structured decisions and label order: same answers as Classifier.classify, 422 on bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.conftest import PARITY
from tests.serve.live_server import LiveServer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = PARITY / "uni_bert_default"
TEXTS = ["The striker scored twice", "Shares fell after the call"]
LABELS = ["sports", "finance", "weather", "music"]


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, max_wait_ms=5, max_work_tokens=2000, refusal_share=1.0)) as url:
        yield url


def post(url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/classify", json=body, timeout=30)


@pytest.mark.parametrize(
    "options",
    [
        {"abstain": 1.0},
        {"abstain": 0.2, "multi_label": False},
        {"groups": [["sports", "finance"]], "threshold": 0.0},
        {"min_labels": 2, "threshold": 1.0},
        {"max_labels": 1, "threshold": 0.0},
        {"label_order": "stable", "threshold": 0.0},
        {"label_order": "permutations", "permutations": 2, "threshold": 0.0},
    ],
)
def test_same_answers_as_the_library(server: str, clf: Any, options: dict[str, Any]) -> None:
    response = post(server, {"texts": TEXTS, "labels": LABELS, **options})
    assert response.status_code == 200, response.text
    expected = clf.classify(TEXTS, LABELS, **options)
    got = response.json()["results"]
    assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in expected]
    for row, want in zip(got, expected):
        assert [r["score"] for r in row] == pytest.approx([r["score"] for r in want], abs=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"groups": [["sports", "rain"]]}, "'rain', which is not among labels"),
        ({"min_labels": 3, "max_labels": 1}, "larger than max_labels"),
        ({"abstain": 1.5}, "outside [0, 1]"),
        ({"groups": [["sports"]]}, "at least 2"),
        ({"label_order": "permutations", "permutations": 0}, "permutations must be a positive int"),
    ],
)
def test_bad_decisions_are_422(server: str, options: dict[str, Any], message: str) -> None:
    response = post(server, {"texts": TEXTS, "labels": LABELS, **options})
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_schema_rejects_unknown_label_order(server: str) -> None:
    assert post(server, {"texts": TEXTS, "labels": LABELS, "label_order": "sorted"}).status_code == 422


def test_permutations_count_as_work(server: str) -> None:
    body = {"texts": TEXTS * 4, "labels": LABELS}
    assert post(server, body).status_code == 200
    response = post(server, {**body, "label_order": "permutations", "permutations": 16})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_much_work"
