"""The HTTP service, against a real uvicorn server on loopback: results, limits, errors, auth, metrics, batching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.serve.live_server import KEY, MODEL, LiveServer, free_port, post

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    app = create_app(clf, max_texts=8, max_labels=5, max_chars=200, max_body_bytes=4000, max_wait_ms=5,
                     refusal_share=1.0)  # many refusals from one address: pacing is tested in test_abuse
    with LiveServer(app) as url:
        yield url


@pytest.fixture(scope="module")
def keyed(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, api_key=KEY, refusal_share=1.0)) as url:
        yield url


def assert_same(got: list[list[dict[str, Any]]], expected: list[list[dict[str, Any]]]) -> None:
    """Same labels in the same order; scores equal up to float noise from batching with other texts."""
    assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in expected]
    for row, want in zip(got, expected, strict=True):
        assert [r["score"] for r in row] == pytest.approx([r["score"] for r in want], abs=1e-5)


REQUESTS = [
    {"texts": ["The team won the final", "Shares fell"], "labels": ["sports", "finance", "politics"], "threshold": 0.0},
    {"texts": ["a", "b", "c"], "labels": [["x", "y"], ["x"], ["p", "q", "r"]], "threshold": 0.2},
    {"texts": ["Good screen"], "labels": ["positive", "negative"], "multi_label": False, "top_k": 2},
    {"texts": ["rain tomorrow"], "labels": ["weather", "sports"], "threshold": {"weather": 0.0, "sports": 1.0}},
    {"texts": ["great battery"], "labels": ["positive", "negative"], "prompt": "Classify the review:", "threshold": 0.0,
     "examples": [{"text": "awful", "labels": ["negative"]}]},
    {"texts": ["default threshold"], "labels": ["a", "b"]},
]


def expected_for(clf: Any, body: dict[str, Any]) -> list[Any]:
    options = {k: v for k, v in body.items() if k not in ("texts", "labels")}
    return clf.classify(body["texts"], body["labels"], **options)


@pytest.mark.parametrize("body", REQUESTS, ids=["shared", "per-text", "single-label", "threshold-dict", "prompt-examples", "default"])
def test_results_equal_classifier(server: str, clf: Any, body: dict[str, Any]) -> None:
    response = post(server, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"results"}
    assert_same(response.json()["results"], expected_for(clf, body))


def test_empty_texts(server: str) -> None:
    response = post(server, {"texts": [], "labels": ["a"]})
    assert response.status_code == 200 and response.json() == {"results": []}


@pytest.mark.parametrize(
    ("body", "code", "limit"),
    [
        ({"texts": ["t"] * 9, "labels": ["a"]}, "too_many_texts", 8),
        ({"texts": ["t"], "labels": ["a", "b", "c", "d", "e", "f"]}, "too_many_labels", 5),
        ({"texts": ["t", "u"], "labels": [["a"], ["a", "b", "c", "d", "e", "f"]]}, "too_many_labels", 5),
        ({"texts": ["ok", "x" * 201], "labels": ["a"]}, "text_too_long", 200),
    ],
)
def test_request_limits(server: str, body: dict[str, Any], code: str, limit: int) -> None:
    response = post(server, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code and error["limit"] == limit and str(limit) in error["message"]


def test_body_size_limit(server: str) -> None:
    body = {"texts": ["y" * 150] * 30, "labels": ["a"]}  # under the other limits' checks, over 4000 bytes
    response = post(server, body)
    assert response.status_code == 413
    assert response.json()["error"] == {"code": "body_too_large", "message": "request body is larger than 4000 bytes", "limit": 4000}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while the body streams in
        data = json.dumps(body).encode()
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    streamed = httpx.post(f"{server}/v1/classify", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"


def test_malformed_json(server: str) -> None:
    response = httpx.post(f"{server}/v1/classify", content=b'{"texts": ["a"], "labels": ', timeout=30,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and "not valid JSON" in error["message"]
    # a form or text/plain type is refused (415): a page on another site can send those without a CORS preflight
    for kind in ("application/x-www-form-urlencoded", "text/plain"):
        form = httpx.post(f"{server}/v1/classify", content=b'{"texts": ["a"], "labels": ["x"]}', timeout=30,
                          headers={"Content-Type": kind, "Origin": "http://evil.example"})
        assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
        assert "access-control-allow-origin" not in form.headers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"texts": "one text", "labels": ["a"]}, "body.texts"),
        ({"texts": [1, 2], "labels": ["a"]}, "body.texts.0"),
        ({"texts": ["a"]}, "body.labels"),
        ({"texts": ["a"], "labels": ["a"], "multi_label": "yes"}, "body.multi_label"),
        ({"texts": ["a"], "labels": ["a"], "threshold": "0.5"}, "body.threshold"),
        ({"texts": ["a"], "labels": ["a"], "top_k": 1.5}, "body.top_k"),
        ({"texts": ["a"], "labels": ["a"], "examples": [{"text": "x", "label": ["a"]}]}, "body.examples.0.label"),
        ({"texts": ["a"], "labels": ["a"], "label": "typo"}, "body.label"),
        ([1, 2, 3], "body"),
    ],
)
def test_wrong_types(server: str, body: Any, field: str) -> None:
    response = post(server, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(f["field"].startswith(field) for f in error["fields"]), error
    assert field in error["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"texts": ["a"], "labels": ["x", "x"]}, "labels has the label 'x' twice"),
        ({"texts": ["a"], "labels": ["x<<LABEL>>"]}, "reserved marker"),
        ({"texts": ["a <<SEP>>"], "labels": ["x"]}, "reserved marker"),
        ({"texts": ["a"], "labels": ["x"], "prompt": "<<EXAMPLE>>"}, "reserved marker"),
        ({"texts": ["a"], "labels": ["x"], "threshold": 1.5}, "outside [0, 1]"),
        ({"texts": ["a"], "labels": ["x"], "top_k": 0}, "top_k must be a positive int"),
        ({"texts": ["a"], "labels": [["x"], ["y"]]}, "2 per-text lists but there are 1 texts"),
        ({"texts": ["a"], "labels": []}, "labels is empty"),
        ({"texts": ["a"], "labels": [" "]}, "empty label"),
        (
            {"texts": ["a"], "labels": ["x"], "examples": [{"text": " ", "labels": ["x"]}]},
            "examples[0]['text'] is empty",
        ),
        ({"texts": ["a"], "labels": ["x"], "examples": [{"text": "e"}]}, "examples[0] has no 'labels'"),
        # a typo'd label in a threshold dict was ignored: the client never sees the server's warning
        ({"texts": ["a"], "labels": ["spam", "ham"], "threshold": {"spma": 0.9}}, "not among the labels: 'spma'"),
        ({"texts": ["a"], "labels": {"topic": ["x", "y"]}, "threshold": {"x": 0.9}}, "not among the labels: 'x'"),
    ],
)
def test_classifier_errors(server: str, body: dict[str, Any], message: str) -> None:
    response = post(server, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and message in error["message"]


def test_thresholds_may_name_any_label_of_the_request(server: str) -> None:
    """Tree labels by their 'parent.child' names, per-text lists by any text's labels."""
    tree = {"texts": ["a"], "labels": {"topic": ["x", "y"]}, "threshold": {"topic.x": 0.0, "topic.y": 1.0}}
    assert [r["label"] for r in post(server, tree).json()["results"][0]] == ["topic.x"]
    per_text = {"texts": ["a", "b"], "labels": [["x"], ["y"]], "threshold": {"x": 0.0, "y": 1.0}}
    assert [[r["label"] for r in rs] for rs in post(server, per_text).json()["results"]] == [["x"], []]


def test_errors_have_one_shape(server: str) -> None:
    assert httpx.get(f"{server}/nowhere").json()["error"]["code"] == "not_found"
    wrong_method = httpx.get(f"{server}/v1/classify")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"  # still alive after all the bad requests


def test_healthz(server: str) -> None:
    health = httpx.get(f"{server}/healthz").json()
    assert health["status"] == "ok" and health["architecture"] == "uni-encoder" and health["auth"] is False
    assert health["limits"]["max_texts"] == 8 and health["device"] == "cpu"


def test_api_key(keyed: str) -> None:
    body = {"texts": ["a"], "labels": ["x"], "threshold": 0.0}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": KEY}):
        response = post(keyed, body, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert post(keyed, body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert post(keyed, body, headers={"X-API-Key": KEY}).status_code == 200
    bad = httpx.post(f"{keyed}/v1/classify", content=b"{", timeout=30)  # unauthenticated: rejected before parsing
    assert bad.status_code == 401
    assert httpx.get(f"{keyed}/healthz").json()["auth"] is True
    assert httpx.get(f"{keyed}/metrics").status_code == 200 and httpx.get(f"{keyed}/").status_code == 200
    schemes = httpx.get(f"{keyed}/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


def test_openapi_and_page(server: str) -> None:
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/classify" in schema["paths"] and "ClassifyRequest" in schema["components"]["schemas"]
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/classify" in page.text and "<script src" not in page.text and "https://" not in page.text


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        base, _, rest = key.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if base == name and got == wanted:
            return float(value)
    return 0.0


def test_metrics_count_requests(server: str) -> None:
    post(server, {"texts": ["a", "b"], "labels": ["x"]})
    post(server, {"texts": ["a"], "labels": ["x", "x"]})
    text = httpx.get(f"{server}/metrics").text
    assert metric(text, "uniclass_http_requests_total", path="/v1/classify", status="200") >= 1
    assert metric(text, "uniclass_http_requests_total", path="/v1/classify", status="422") >= 1
    assert metric(text, "uniclass_texts_classified_total") >= 2
    assert metric(text, "uniclass_batch_requests_count") >= 1
    assert metric(text, "uniclass_http_request_duration_seconds_count", path="/v1/classify") >= 2


def test_overloaded_queue(clf: Any) -> None:
    from uniclass.serve.app import create_app

    # refusal_share=1: a 503 is paced like a 4xx, which is not what this test is about
    with LiveServer(create_app(clf, max_queue_texts=2, refusal_share=1.0)) as url:
        response = post(url, {"texts": ["a", "b", "c"], "labels": ["x"]})
        assert response.status_code == 503
        assert response.json()["error"] == {
            "code": "overloaded", "message": "the service has 2 texts waiting already; retry later", "limit": 2}
        assert post(url, {"texts": ["a", "b"], "labels": ["x"]}).status_code == 200


def test_concurrent_requests_are_merged(clf: Any) -> None:
    """16 clients at once, each with its own labels and options: every answer is its own, and requests share calls."""
    from uniclass.serve.app import create_app

    bodies = []
    for i in range(16):
        labels = [f"topic {i}", "sports", "finance"][: 1 + i % 3]
        body: dict[str, Any] = {"texts": [f"text {i}", f"another text {i}"][: 1 + i % 2], "labels": labels,
                                "threshold": (i % 4) / 10, "multi_label": i % 5 != 0}
        if i % 7 == 0:
            body["prompt"] = f"prompt {i}"
        if i % 6 == 0:
            body["top_k"] = 1
        bodies.append(body)
    expected = [expected_for(clf, body) for body in bodies]
    with LiveServer(create_app(clf, max_wait_ms=200)) as url:
        barrier = threading.Barrier(len(bodies))
        answers: list[Any] = [None] * len(bodies)

        def client(i: int) -> None:
            with httpx.Client(timeout=60) as session:
                session.get(f"{url}/healthz")  # connect before the barrier so requests arrive together
                barrier.wait()
                answers[i] = session.post(f"{url}/v1/classify", json=bodies[i])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(a is not None and a.status_code == 200 for a in answers), [a and a.text for a in answers]
        for answer, want in zip(answers, expected, strict=True):
            assert_same(answer.json()["results"], want)
        text = httpx.get(f"{url}/metrics").text
    calls = metric(text, "uniclass_batch_requests_count")
    alone = metric(text, "uniclass_batch_requests_bucket", le="1.0")
    assert metric(text, "uniclass_batch_requests_sum") == 16
    assert calls > alone, "no model call answered more than one request"
    assert calls < 16


def test_serve_command(tmp_path) -> None:
    """`uniclass serve` end to end in a subprocess: flags reach the limits, UNICLASS_API_KEY guards /v1."""
    port = free_port()
    env = {**os.environ, "UNICLASS_API_KEY": KEY, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "uniclass.cli", "serve", "--model", str(MODEL), "--port", str(port),
               "--max-texts", "3", "--device", "cpu", "--log-level", "warning", "--timeout-keep-alive", "2",
               "--limit-concurrency", "50", "--shutdown-timeout", "2", "--max-work-tokens", "5000", "--body-timeout", "5",
               "--cors-origin", "http://good.example"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.25)
        assert health["limits"]["max_texts"] == 3 and health["auth"] is True and "model" not in health
        assert health["limits"]["max_work_tokens"] == 5000 and health["limits"]["body_timeout_s"] == 5
        assert post(url, {"texts": ["a"], "labels": ["x"]}).status_code == 401
        response = post(url, {"texts": ["a"] * 4, "labels": ["x"]}, headers={"X-API-Key": KEY})
        assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_texts"
    finally:
        process.terminate()
        status = process.wait(timeout=30)
    assert status == 0, "SIGTERM must shut down cleanly with status 0"
