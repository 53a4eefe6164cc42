"""Bodies FastAPI cannot parse get the README's 422 ``invalid_json`` with the reason; metrics name explain and
label-set calls; overlapping exclusive groups are refused instead of losing a label."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

pytestmark = pytest.mark.usefixtures("one_torch_thread")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(clf: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from uniclass.serve.app import create_app

    with TestClient(create_app(clf, refusal_share=1.0)) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"texts": ["\xff\xfe"], "labels": ["a"]}', "at byte 12: not UTF-8"),
        (gzip.compress(b'{"texts": ["a"], "labels": ["a"]}'), "a compressed body?"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"texts": ["a"], "labels": ["a"], "top_k": ' + b"9" * 5000 + b"}", "value has 5000 digits"),
    ],
)
def test_unparsable_bodies_are_422_invalid_json(client: Any, body: bytes, reason: str) -> None:
    response = client.post("/v1/classify", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and reason in error["message"]


def test_metrics_name_explain_and_label_set_calls(client: Any) -> None:
    client.post("/v1/explain", json={"texts": ["a. b."], "labels": ["x"]})
    client.put("/v1/label-sets/colours", json=["red", "green"])
    client.get("/v1/label-sets")
    metrics = client.get("/metrics").text
    for path in ("/v1/explain", "/v1/label-sets", "/v1/label-sets/{name}"):
        assert f'path="{path}"' in metrics, path
    assert "colours" not in metrics


def test_overlapping_exclusive_groups_are_refused(client: Any) -> None:
    body = {"texts": ["a"], "labels": ["x", "y", "z"], "groups": [["x", "y"], ["y", "z"]]}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 422 and "groups[0] and groups[1]" in response.json()["error"]["message"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_work_offline(client: Any, page: str) -> None:
    """The docs pages load Swagger UI / ReDoc from the server itself (fastapi-offline), not from a CDN."""
    import re

    html = client.get(page).text
    sources = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html) + re.findall(r"url:\s*'([^']+)'", html)
    assert sources, html
    assert not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    for source in sources:
        if source.endswith((".js", ".css")):
            assert client.get(source).status_code == 200, source
