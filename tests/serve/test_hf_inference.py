"""``POST /v1/hf/zero-shot-classification``: Hugging Face Inference API clients work unchanged.

The bodies are the documented examples of the Inference API's zero-shot task and of
``huggingface_hub.InferenceClient.zero_shot_classification``; the real ``InferenceClient`` is pointed at a live
server, so the answer's shape is checked by the client that parses it.
"""

from __future__ import annotations

import math

import pytest

from tests.serve.live_server import KEY, LiveServer

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

ROUTE = "/v1/hf/zero-shot-classification"
REFUND = ("Hi, I recently bought a device from your company but it is not working as advertised and I would like "
          "to get reimbursed!")
GALILEAN = ("A new model offers an explanation for how the Galilean satellites formed around the solar system's"
            "largest world. Konstantin Batygin did not set out to solve one of the solar system's most puzzling"
            " mysteries when he went for a run up a hill in Nice, France.")
SPACE = ["space & cosmos", "scientific discovery", "microbiology", "robots", "archeology"]


@pytest.fixture(scope="module")
def server(clf):
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, api_key=KEY, max_wait_ms=2)) as url:
        yield url


def call(url: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(url + ROUTE, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30, **kwargs)


def expected(clf, text: str, labels: list[str], multi_label: bool) -> list[dict]:
    scores = clf.scores(text, labels, multi_label=multi_label or len(labels) == 1)
    ranked = sorted(zip(labels, scores, strict=True), key=lambda pair: -pair[1])
    return [{"label": label, "score": score} for label, score in ranked]


def same(answer: list[dict], wanted: list[dict]) -> bool:
    return [a["label"] for a in answer] == [w["label"] for w in wanted] and all(
        math.isclose(a["score"], w["score"], abs_tol=1e-5) for a, w in zip(answer, wanted, strict=True))


def test_inference_api_documented_example(server, clf):
    response = call(server, {"inputs": REFUND, "parameters": {"candidate_labels": ["refund", "legal", "faq"]}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert same(answer, expected(clf, REFUND, ["refund", "legal", "faq"], False))
    assert math.isclose(sum(a["score"] for a in answer), 1.0, abs_tol=1e-6)  # the API's default: single-label


def test_multi_label_list_inputs_and_legacy_options(server, clf):
    body = {"inputs": [REFUND, GALILEAN], "parameters": {"candidate_labels": SPACE, "multi_label": True},
            "options": {"wait_for_model": True}}
    response = call(server, body)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == 2
    for text, answer in zip([REFUND, GALILEAN], answers, strict=True):
        assert same(answer, expected(clf, text, SPACE, True))


def test_huggingface_hub_inference_client(server, clf):
    """The client's own docstring examples, parsed by the client itself."""
    hub = pytest.importorskip("huggingface_hub")
    client = hub.InferenceClient(model=server + ROUTE, token=KEY)
    out = client.zero_shot_classification(GALILEAN, SPACE)
    assert [(o.label, round(o.score, 6)) for o in out] == [
        (e["label"], round(e["score"], 6)) for e in expected(clf, GALILEAN, SPACE, False)]
    out = client.zero_shot_classification(GALILEAN, SPACE, multi_label=True)
    assert [o.label for o in out] == [e["label"] for e in expected(clf, GALILEAN, SPACE, True)]
    weather = "I really like our dinner and I'm very happy. I don't like the weather though."
    out = client.zero_shot_classification(weather, ["positive", "negative", "pessimistic", "optimistic"],
                                           multi_label=True, hypothesis_template="This text is {} towards the weather")
    assert sorted(o.label for o in out) == ["negative", "optimistic", "pessimistic", "positive"]


def test_errors_are_the_services(server):
    assert httpx.post(server + ROUTE, json={"inputs": "x", "parameters": {"candidate_labels": ["a"]}},
                      timeout=30).status_code == 401  # the API key, as on /v1/classify
    missing = call(server, {"inputs": "x", "parameters": {}})
    assert missing.status_code == 422 and "candidate_labels" in missing.text
    empty = call(server, {"inputs": "x", "parameters": {"candidate_labels": []}})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "invalid_input"
    too_many = call(server, {"inputs": ["x"] * 1000, "parameters": {"candidate_labels": ["a"]}})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_texts"
