"""LoRA adapters over HTTP: ``"adapter"`` per request or per text, merged calls, and the admin routes."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from tests.serve.live_server import KEY, MODEL, LiveServer
from tests.test_adapters import LABELS, TEXTS, make_adapter

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from uniclass import Classifier

    clean = Classifier.from_pretrained(MODEL, device="cpu")
    out = {}
    for i, name in enumerate(["a", "b", "c"]):
        out[name] = tmp_path_factory.mktemp(f"adapter-{name}")
        make_adapter(clean, out[name], seed=10 + i)
    return out


@pytest.fixture(scope="module")
def local(folders):
    """The library with the same adapters: what the server must answer."""
    from uniclass import Classifier

    clf = Classifier.from_pretrained(MODEL, device="cpu")
    for name in ("a", "b", "c"):
        clf.load_adapter(folders[name], name=name)
    return clf


@pytest.fixture(scope="module")
def server(folders):
    from uniclass import Classifier
    from uniclass.serve.app import create_app

    clf = Classifier.from_pretrained(MODEL, device="cpu")
    app = create_app(clf, api_key=KEY, max_wait_ms=150, adapters={"a": str(folders["a"]), "b": str(folders["b"])},
                     max_adapters=3, refusal_share=1.0)
    with LiveServer(app) as url:
        yield url


def classify(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/classify", json=body, headers=AUTH, timeout=60)


def scores_of(results: list) -> list[list[float]]:
    return [[{r["label"]: r["score"] for r in row}[label] for label in LABELS] for row in results]


def test_adapter_per_request_and_per_text(server, local):
    body = {"texts": TEXTS, "labels": LABELS, "threshold": 0.0}
    per_text = ["a", None, "b", "a", None, "b"]
    answer = classify(server, {**body, "adapter": per_text})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(scores_of(answer.json()["results"]),
                               local.scores(TEXTS, LABELS, adapter=per_text), atol=1e-5, rtol=0)
    answer = classify(server, {**body, "adapter": "b"})
    np.testing.assert_allclose(scores_of(answer.json()["results"]),
                               local.scores(TEXTS, LABELS, adapter="b"), atol=1e-5, rtol=0)


def test_concurrent_requests_with_different_adapters_share_calls(server, local):
    bodies = [{"texts": [TEXTS[i]], "labels": LABELS, "threshold": 0.0, **({"adapter": name} if name else {})}
              for i, name in enumerate(["a", "b", None, "a", "b", None])]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: classify(server, b), bodies))
    for i, (body, answer) in enumerate(zip(bodies, answers, strict=True)):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(scores_of(answer.json()["results"])[0],
                                   local.scores(TEXTS[i], LABELS, adapter=body.get("adapter")), atol=1e-5, rtol=0)


def test_bad_adapter_requests(server):
    unknown = classify(server, {"texts": ["x"], "labels": ["a"], "adapter": "zz"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_adapter"
    assert "loaded: a, b" in unknown.json()["error"]["message"]
    wrong_length = classify(server, {"texts": ["x", "y"], "labels": ["a"], "adapter": ["a"]})
    assert wrong_length.status_code == 422


def test_admin_routes(server, folders, local):
    listed = httpx.get(f"{server}/v1/adapters", headers=AUTH).json()
    assert [a["name"] for a in listed["adapters"]] == ["a", "b"] and listed["memory_mb"] > 0
    assert httpx.put(f"{server}/v1/adapters/c", json={"path": str(folders["c"])}).status_code == 401  # the key
    loaded = httpx.put(f"{server}/v1/adapters/c", json={"path": str(folders["c"])}, headers=AUTH, timeout=60)
    assert loaded.status_code == 200, loaded.text
    answer = classify(server, {"texts": TEXTS[:2], "labels": LABELS, "threshold": 0.0, "adapter": "c"})
    np.testing.assert_allclose(scores_of(answer.json()["results"]), local.scores(TEXTS[:2], LABELS, adapter="c"),
                               atol=1e-5, rtol=0)
    full = httpx.put(f"{server}/v1/adapters/d", json={"path": str(folders["c"])}, headers=AUTH, timeout=60)
    assert full.status_code == 422 and full.json()["error"]["code"] == "too_many_adapters"
    bad = httpx.put(f"{server}/v1/adapters/e", json={"path": "/nonexistent"}, headers=AUTH, timeout=60)
    assert bad.status_code == 422
    gone = httpx.delete(f"{server}/v1/adapters/c", headers=AUTH, timeout=60)
    assert gone.status_code == 200 and [a["name"] for a in gone.json()["adapters"]] == ["a", "b"]
    assert classify(server, {"texts": ["x"], "labels": ["a"], "adapter": "c"}).status_code == 404


def test_loading_needs_an_api_key_and_fits_the_memory_limit(folders):
    from uniclass import Classifier
    from uniclass.serve.app import create_app

    with LiveServer(create_app(Classifier.from_pretrained(MODEL, device="cpu"))) as url:
        refused = httpx.put(f"{url}/v1/adapters/a", json={"path": str(folders["a"])}, timeout=60)
        assert refused.status_code == 403 and "API key" in refused.json()["error"]["message"]
    with LiveServer(create_app(Classifier.from_pretrained(MODEL, device="cpu"), api_key=KEY,
                               max_adapter_mb=0.001, refusal_share=1.0)) as url:
        big = httpx.put(f"{url}/v1/adapters/a", json={"path": str(folders["a"])}, headers=AUTH, timeout=60)
        assert big.status_code == 413 and big.json()["error"]["code"] == "adapters_too_large"
        assert httpx.get(f"{url}/v1/adapters", headers=AUTH).json()["adapters"] == []  # unloaded again
