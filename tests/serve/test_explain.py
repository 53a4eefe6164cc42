"""``POST /v1/explain`` against a real uvicorn server: answers equal ``Classifier.explain``, with classify's
limits, auth and errors, every occluded variant counted as work, and explanations sharing the queue with
classify requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.serve.live_server import KEY, LiveServer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = "The striker scored twice. Shares fell 5% after the call! Dr. Smith said so."


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    app = create_app(clf, max_texts=4, max_labels=5, max_chars=2000, max_body_bytes=8000, max_wait_ms=5,
                     max_work_tokens=4000, refusal_share=1.0)  # refusals from one address: pacing is tested in test_abuse
    with LiveServer(app) as url:
        yield url


def explain(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/explain", json=body, timeout=60, **kwargs)


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Same units and labels; scores and deltas equal up to float noise from batching."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "labels"} == {k: v for k, v in w.items() if k != "labels"}
        assert [x["label"] for x in g["labels"]] == [x["label"] for x in w["labels"]]
        for gl, wl in zip(g["labels"], w["labels"], strict=True):
            assert gl["score"] == pytest.approx(wl["score"], abs=1e-5)
            assert gl["deltas"] == pytest.approx(wl["deltas"], abs=1e-5)


BODIES = [
    {"texts": [TEXT], "labels": ["sports", "finance"]},
    {"texts": [TEXT, "One sentence only"], "labels": [["sports"], ["a", "b"]], "multi_label": False},
    {"texts": ["the striker scored twice and the shares fell after the call"], "labels": ["sports", "finance"],
     "unit": "chunk", "chunk_tokens": 3, "max_units": 4},
    {"texts": [TEXT], "labels": ["sports", "finance"], "prompt": "Classify:", "examples": [{"text": "Goal!", "labels": ["sports"]}]},
]


@pytest.mark.parametrize("body", BODIES, ids=["multi", "single-per-text", "chunk", "prompt-examples"])
def test_results_equal_classifier(server: str, clf: Any, body: dict[str, Any]) -> None:
    response = explain(server, body)
    assert response.status_code == 200, response.text
    options = {k: v for k, v in body.items() if k not in ("texts", "labels")}
    want = [e.to_dict() for e in clf.explain(body["texts"], body["labels"], **options)]
    assert_same(response.json()["results"], want)


def test_empty_texts(server: str) -> None:
    response = explain(server, {"texts": [], "labels": ["a"]})
    assert response.status_code == 200 and response.json() == {"results": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"texts": ["a"] * 5, "labels": ["x"]}, 422, "too_many_texts"),
        ({"texts": ["a" * 2001], "labels": ["x"]}, 422, "text_too_long"),
        ({"texts": ["a"], "labels": ["x", "y", "z", "u", "v", "w"]}, 422, "too_many_labels"),
        ({"texts": ["a"], "labels": ["x", "x"]}, 422, "invalid_input"),
        ({"texts": ["a"], "labels": ["x"], "unit": "word"}, 422, "invalid_request"),
        ({"texts": ["a"], "labels": ["x"], "max_units": 0}, 422, "invalid_request"),
        ({"texts": ["a"], "labels": ["x"], "max_units": "3"}, 422, "invalid_request"),
        ({"texts": ["a"], "labels": ["x"], "threshold": 0.5}, 422, "invalid_request"),
    ],
)
def test_limits_and_errors(server: str, body: dict[str, Any], status: int, code: str) -> None:
    response = explain(server, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_every_variant_counts_as_work(server: str, clf: Any) -> None:
    """A text that classify would take is refused once its units multiply the work past the budget."""
    text = " ".join(f"Sentence {i} is about football." for i in range(40))  # 40 units, about 280 tokens
    body = {"texts": [text], "labels": ["sports"]}
    assert httpx.post(f"{server}/v1/classify", json=body, timeout=60).status_code == 200
    refused = explain(server, body)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too_much_work" and error["limit"] == 4000 and "max_units" in error["message"]
    fewer = explain(server, {**body, "max_units": 4})  # 5 scorings of the text fit
    assert fewer.status_code == 200 and len(fewer.json()["results"][0]["units"]) == 4


def test_api_key_and_content_type(clf: Any) -> None:
    from uniclass.serve.app import create_app

    body = {"texts": [TEXT], "labels": ["sports"]}
    with LiveServer(create_app(clf, api_key=KEY)) as url:
        assert explain(url, body).status_code == 401
        assert explain(url, body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert explain(url, body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        form = httpx.post(f"{url}/v1/explain", content=b"texts=a", headers={"X-API-Key": KEY,
                          "Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
        assert form.status_code == 415


def test_openapi_documents_explain(server: str) -> None:
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/explain" in schema["paths"]
    operation = schema["paths"]["/v1/explain"]["post"]
    assert {"200", "413", "422"} <= set(operation["responses"])
    components = schema["components"]["schemas"]
    assert {"ExplainRequest", "ExplainResponse", "ExplanationBody", "LabelEffect"} <= set(components)
    assert set(components["ExplainRequest"]["properties"]) >= {"texts", "labels", "unit", "max_units", "chunk_tokens"}


def test_explanations_share_the_queue_with_classify(clf: Any) -> None:
    """Explain and classify requests at once: each gets its own answer (an explanation runs alone)."""
    from uniclass.serve.app import create_app

    labels = ["sports", "finance"]
    want_explain = [e.to_dict() for e in clf.explain([TEXT], labels)]
    want_classify = clf.classify(["The team won", "Shares fell"], labels, threshold=0.0)
    with LiveServer(create_app(clf, max_wait_ms=200)) as url:
        barrier = threading.Barrier(4)
        answers: list[Any] = [None] * 4

        def client(i: int) -> None:
            with httpx.Client(timeout=60) as session:
                session.get(f"{url}/healthz")
                barrier.wait()
                if i % 2:
                    answers[i] = session.post(f"{url}/v1/explain", json={"texts": [TEXT], "labels": labels})
                else:
                    answers[i] = session.post(f"{url}/v1/classify", json={"texts": ["The team won", "Shares fell"],
                                                                          "labels": labels, "threshold": 0.0})

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert all(a is not None and a.status_code == 200 for a in answers), [a and a.text for a in answers]
    for i, answer in enumerate(answers):
        if i % 2:
            assert_same(answer.json()["results"], want_explain)
        else:
            got = answer.json()["results"]
            assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in want_classify]
