"""Fuzzing the request schema (hypothesis): whatever JSON a client sends, the answer is a 200 or a 4xx/503 in the
common error shape, never a 5xx. In-process (TestClient) against the tiny parity checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPECIAL = ["", " ", "\ud800", "<<LABEL>>", "<<SEP>>", "é\u2028x", "a\r\nb", "x" * 300]
text = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL))
scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False, allow_infinity=False), text)
anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
tree = st.recursive(st.one_of(st.none(), st.lists(text, max_size=3)), lambda inner: st.dictionaries(text, inner, max_size=3),
                    max_leaves=6)  # label trees: {parent: [children] | null | {...}}
labels = st.one_of(st.lists(text, max_size=5), st.lists(st.lists(text, max_size=3), max_size=3), tree, anything)
body = st.one_of(
    anything,
    st.fixed_dictionaries(
        {"texts": st.one_of(st.lists(text, max_size=4), anything), "labels": labels},
        optional={
            "multi_label": st.one_of(st.booleans(), anything),
            "threshold": st.one_of(st.floats(-1, 2), st.dictionaries(text, st.floats(-1, 2), max_size=3), anything),
            "top_k": st.one_of(st.integers(-2, 5), anything),
            "prompt": st.one_of(text, anything),
            "hierarchy": st.one_of(st.booleans(), anything),
            "as_tree": st.one_of(st.booleans(), anything),
            "examples": st.one_of(st.lists(st.fixed_dictionaries({"text": text, "labels": st.lists(text, max_size=2)}), max_size=3), anything),
            "extra": anything,
        },
    ),
)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from uniclass import Classifier
    from uniclass.serve.app import create_app

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    app = create_app(clf, max_texts=4, max_labels=5, max_chars=100, max_prompt_chars=50, max_wait_ms=0,
                     refusal_share=1.0)  # thousands of refusals from one address: pacing (tested elsewhere) kept short
    with TestClient(app, raise_server_exceptions=False) as session:
        yield session


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=body)
def test_any_json_body_gets_a_clean_answer(client: Any, payload: Any) -> None:
    raw = json.dumps(payload).encode()  # ensure_ascii: lone surrogates travel as \ud800 escapes
    response = client.post("/v1/classify", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 413, 422, 503), (response.status_code, response.text)
    answer = response.json()
    if response.status_code == 200:
        assert isinstance(answer["results"], list)
    else:
        assert set(answer) == {"error"} and answer["error"]["code"] and answer["error"]["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=60))
def test_any_bytes_get_a_clean_answer(client: Any, raw: bytes) -> None:
    response = client.post("/v1/classify", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "error" in response.json() or response.status_code == 200
