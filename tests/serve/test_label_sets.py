"""Registered label sets: PUT /v1/label-sets/{name}, "label_set" in classify bodies, shortlist limits and errors."""

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

LABELS = ["sports", "finance", "weather", "music", "cooking", "travel", "science", "politics"] + [f"topic {i}" for i in range(300)]


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    clf.shortlist_retriever = "model"
    return clf


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    app = create_app(clf, max_labels=5, max_wait_ms=5, max_label_sets=2, max_label_set_labels=400,
                     label_sets={"boot": LABELS[:20]}, refusal_share=1.0)  # many refusals: pacing is tested in test_abuse
    with LiveServer(app) as url:
        yield url


def put(url: str, name: str, labels: Any) -> httpx.Response:
    return httpx.put(f"{url}/v1/label-sets/{name}", json=labels, timeout=60)


def post(url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/classify", json=body, timeout=60)


def test_register_and_classify_by_name(server: str, clf: Any) -> None:
    response = put(server, "topics", LABELS)
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == len(LABELS) and response.json()["k"] >= 1
    texts = ["the striker scored", "shares fell"]
    got = post(server, {"texts": texts, "label_set": "topics", "shortlist": 4, "threshold": 0.0})
    assert got.status_code == 200, got.text
    expected = clf.classify(texts, LABELS, shortlist=4, threshold=0.0)
    assert [[r["label"] for r in res] for res in got.json()["results"]] == [[r["label"] for r in res] for res in expected]
    names = {s["name"] for s in httpx.get(f"{server}/v1/label-sets", timeout=10).json()["label_sets"]}
    assert names == {"boot", "topics"}
    assert post(server, {"texts": texts, "label_set": "boot", "shortlist": 3}).status_code == 200


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"texts": ["t"], "label_set": "nope"}, 404, "unknown_label_set"),
    ({"texts": ["t"], "label_set": "boot", "shortlist": 0}, 422, "invalid_input"),
    ({"texts": ["t"], "label_set": "boot", "shortlist": 6}, 422, "too_many_labels"),  # k counts against max_labels
    ({"texts": ["t"], "label_set": "boot"}, 422, "too_many_labels"),  # auto k (16) > max_labels (5)
    ({"texts": ["t"], "labels": ["a"], "label_set": "boot"}, 422, "invalid_request"),
    ({"texts": ["t"]}, 422, "invalid_request"),
    ({"texts": ["t"], "labels": LABELS[:6], "shortlist": 2}, 422, "too_many_labels"),
    ({"texts": ["t"], "label_set": "boot", "shortlist": "most"}, 422, "invalid_request"),  # schema: int or "auto"
])
def test_label_set_errors(server: str, body: dict[str, Any], status: int, code: str) -> None:
    response = post(server, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_plain_labels_with_shortlist(server: str) -> None:
    response = post(server, {"texts": ["the striker scored"], "labels": LABELS[:5], "shortlist": 2, "threshold": 0.0})
    assert response.status_code == 200 and len(response.json()["results"][0]) == 2


@pytest.mark.parametrize(("name", "labels", "code"), [
    ("bad name!", ["a"], "invalid_input"),
    ("big", [f"l{i}" for i in range(401)], "too_many_labels"),
    ("long", ["x" * 201], "label_too_long"),
    ("dupes", ["a", "a"], "invalid_input"),
    ("empty", [], "invalid_input"),
])
def test_registration_errors(server: str, name: str, labels: Any, code: str) -> None:
    response = put(server, name, labels)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_label_set_count_limit(server: str) -> None:
    put(server, "topics", LABELS[:10])  # replacing a registered set is always allowed
    response = put(server, "third", ["a", "b"])
    if len(httpx.get(f"{server}/v1/label-sets", timeout=10).json()["label_sets"]) >= 2:
        assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_label_sets"


def test_serve_cli_parses_label_sets(tmp_path: Any) -> None:
    from uniclass.commands.serve import parse_label_sets

    path = tmp_path / "topics.txt"
    path.write_text("sports\nfinance\n", encoding="utf-8")
    assert parse_label_sets([f"topics={path}"]) == {"topics": ["sports", "finance"]}
    for bad in (["topics"], ["=x"], [f"a={path}", f"a={path}"]):
        with pytest.raises(ValueError, match="--label-set"):
            parse_label_sets(bad)


def test_a_threshold_may_name_any_label_of_the_set_but_no_other(server: str) -> None:
    body = {"texts": ["the striker scored"], "label_set": "boot", "shortlist": 2}
    # "topic 11" is in the set, whether or not the shortlist keeps it for this text
    assert post(server, {**body, "threshold": {"sports": 0.0, "topic 11": 0.5}}).status_code == 200
    refused = post(server, {**body, "threshold": {"sport": 0.0}})
    assert refused.status_code == 422 and "not among the labels: 'sport'" in refused.json()["error"]["message"]
