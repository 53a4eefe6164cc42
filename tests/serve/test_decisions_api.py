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


# ---------------------------------------------------------------- hierarchy: tree labels, hierarchy, as_tree
TREE = {"product": ["battery", "screen"], "finance": {"stocks": None}, "weather": None}
OTHER_TREE = {"sport": {"football": None, "tennis": None}, "music": None}


@pytest.mark.parametrize("options", [{}, {"hierarchy": True}, {"as_tree": True}, {"as_tree": True, "multi_label": False},
                                     {"hierarchy": True, "groups": [["product.battery", "product.screen"]]},
                                     {"as_tree": True, "label_order": "permutations", "permutations": 2}])
def test_tree_labels_same_answers_as_the_library(server: str, clf: Any, options: dict[str, Any]) -> None:
    response = post(server, {"texts": TEXTS, "labels": TREE, "threshold": 0.2, **options})
    assert response.status_code == 200, response.text
    _assert_same(response.json()["results"], clf.classify(TEXTS, TREE, threshold=0.2, **options))


def _nested(depth: int) -> dict[str, Any]:
    tree: Any = None
    for level in range(depth):
        tree = {f"n{level}": tree}
    return tree


def _assert_same(got: list[Any], want: list[Any]) -> None:
    """Per text: the same labels and scores (a list, best first) or the same tree (as_tree)."""
    for row, expected in zip(got, want, strict=True):
        if isinstance(expected, dict):
            _assert_same_tree(row, expected)
        else:
            assert [r["label"] for r in row] == [r["label"] for r in expected]
            assert [r["score"] for r in row] == pytest.approx([r["score"] for r in expected], abs=1e-5)


def _assert_same_tree(got: Any, want: Any) -> None:
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want):
            _assert_same_tree(a, b)
        return
    assert list(got) == list(want)
    for name, node in want.items():
        assert got[name]["score"] == pytest.approx(node["score"], abs=1e-5)
        assert ("children" in got[name]) == ("children" in node)
        if "children" in node:
            _assert_same_tree(got[name]["children"], node["children"])


def test_merged_calls_keep_each_requests_tree(clf: Any) -> None:
    """Jobs with different trees (and a flat one) merged into one classify call answer as if each ran alone."""
    from uniclass.serve.app import ClassifyRequest, _prepare_job
    from uniclass.serve.batcher import call_key, merge_jobs
    from uniclass.serve.limits import Limits

    bodies = [{"texts": TEXTS, "labels": TREE, "as_tree": True}, {"texts": TEXTS[:1], "labels": OTHER_TREE, "as_tree": True},
              {"texts": TEXTS[1:], "labels": TREE, "as_tree": True, "threshold": 0.0}]
    jobs = [_prepare_job(ClassifyRequest(**body), Limits(), 0.5)[0] for body in bodies]
    assert len({call_key(job) for job in jobs}) == 1  # one shared call
    merged = clf.classify(**merge_jobs(jobs))
    start = 0
    for body in bodies:
        alone = clf.classify(body["texts"], body["labels"], as_tree=True, threshold=body.get("threshold", 0.5))
        _assert_same(merged[start:start + len(body["texts"])], alone)
        start += len(body["texts"])


def test_concurrent_requests_with_different_trees(clf: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from uniclass.serve.app import create_app

    bodies = [{"texts": TEXTS, "labels": TREE, "as_tree": True, "threshold": 0.0},
              {"texts": TEXTS, "labels": OTHER_TREE, "as_tree": True, "threshold": 0.0},
              {"texts": TEXTS, "labels": OTHER_TREE, "hierarchy": True, "threshold": 0.0},
              {"texts": TEXTS, "labels": LABELS, "threshold": 0.0}]
    with LiveServer(create_app(clf, max_wait_ms=300, refusal_share=1.0)) as url:
        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(lambda body: post(url, body), bodies))
    for body, response in zip(bodies, responses):
        assert response.status_code == 200, response.text
        options = {k: body[k] for k in ("as_tree", "hierarchy") if k in body}
        _assert_same(response.json()["results"], clf.classify(TEXTS, body["labels"], threshold=0.0, **options))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"labels": LABELS, "hierarchy": True}, "hierarchy=True needs hierarchical labels"),
        ({"labels": LABELS, "as_tree": True}, "hierarchy=True needs hierarchical labels"),
        ({"labels": {"a": 3}}, "labels must be str, list or dict"),
        ({"labels": {"a": [["b"]]}}, "labels must be str"),
        ({"labels": {}}, "labels is empty"),
        ({"labels": {"a.b": None, "a": ["b"]}}, "twice"),
        ({"labels": TREE, "shortlist": 2}, "shortlist needs one flat label list"),
        ({"labels": TREE, "hierarchy": True, "groups": [["product.battery", "rain"]]}, "'rain', which is not among"),
        ({"labels": _nested(17)}, "more than 16 levels deep"),
        ({"labels": {f"l{i}": None for i in range(300)}}, "labels has 300 labels"),
        ({"labels": {"a": ["x" * 500]}}, "characters; the limit is"),
        ({"labels": TREE, "hierarchy": "yes"}, "valid boolean"),
    ],
)
def test_bad_trees_are_422(server: str, body: dict[str, Any], message: str) -> None:
    response = post(server, {"texts": TEXTS, **body})
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


def test_a_deeply_nested_tree_is_422_not_500(server: str) -> None:
    response = post(server, {"texts": TEXTS, "labels": _nested(150)})
    assert response.status_code == 422, response.text
