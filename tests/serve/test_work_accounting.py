"""One accounting of work: the prior's embeddings, shortlisting, label-set uploads and explanations are counted
before they run and refused with 413 over their budget; uploads go through the fair queue in slices; planning
has its own bounded executor under the request's deadline."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.conftest import PARITY
from tests.serve.live_server import LiveServer, post

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# six prompts per label, as the default model's prior has
ENSEMBLE = ["This is about {}.", "Topic: {}.", "The subject is {}.", "It concerns {}.", "About {}."]


@pytest.fixture(scope="module")
def clf(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path) -> Any:
    """The parity uni-encoder with an embedding-similarity prior (six prompts per label) on a tiny random BERT."""
    from uniclass import Classifier

    folder = tmp_path_factory.mktemp("served-with-prior")
    shutil.copytree(PARITY / "uni_bert_default", folder, dirs_exist_ok=True)
    (folder / "prior.json").write_text(
        json.dumps(
            {
                "kind": "embedding-similarity",
                "weight": 2.0,
                "ensemble": ENSEMBLE,
                "backbone": {"folder": str(tiny_backbone)},
            }
        )
    )
    return Classifier.from_pretrained(folder, device="cpu")


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    # 64-token model calls: an upload of a few dozen labels is answered in many slices
    with LiveServer(create_app(clf, max_wait_ms=2, max_batch_tokens=64, refusal_share=1.0)) as url:
        yield url


def unique_labels(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("bcdfghjk") for _ in range(9)) + f" {i}" for i in range(n)]


def test_a_huge_upload_is_refused_at_once(server: str) -> None:
    """20,000 labels (within max_label_set_labels) would take minutes to embed: a 413 naming the upload budget."""
    started = time.monotonic()
    response = httpx.put(f"{server}/v1/label-sets/big", json=unique_labels(20_000, 1), timeout=60)
    assert time.monotonic() - started < 10
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_much_work" and error["limit"] == 32_768 and "--label-set" in error["message"]
    assert "big" not in {s["name"] for s in httpx.get(f"{server}/v1/label-sets", timeout=10).json()["label_sets"]}


def test_an_upload_in_slices_gives_the_vectors_of_one_call(server: str, clf: Any) -> None:
    labels = unique_labels(40, 2)
    response = httpx.put(f"{server}/v1/label-sets/sliced", json=labels, timeout=60)
    assert response.status_code == 200, response.text
    from uniclass.shortlist import LabelIndex

    encoder = clf.label_encoder()
    whole = LabelIndex(labels, encoder.encode_labels(labels), encoder.name)
    texts = ["the striker scored", "shares fell"]
    got = post(server, {"texts": texts, "label_set": "sliced", "shortlist": 3, "threshold": 0.0}).json()["results"]
    expected = clf.classify(texts, whole, shortlist=3, threshold=0.0)
    assert [[r["label"] for r in res] for res in got] == [[r["label"] for r in res] for res in expected]


def test_many_unique_labels_per_text_count_the_prior(server: str) -> None:
    """16 texts with 128 unique labels each: the prior would embed 2,048 labels x 6 prompts, refused fast."""
    body = {"texts": [f"text {i}" for i in range(16)], "labels": [unique_labels(128, 10 + i) for i in range(16)]}
    started = time.monotonic()
    response = post(server, body)
    assert time.monotonic() - started < 10
    assert response.status_code == 413, response.text
    assert "prior" in response.json()["error"]["message"]


def test_shortlisting_counts_the_labels_it_embeds(clf: Any) -> None:
    """shortlist: 1 over 128 new labels scores one label but embeds 128 x 6 prompts: over a small budget."""
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, max_work_tokens=1_000, refusal_share=1.0)) as url:
        response = post(url, {"texts": ["a short text"], "labels": unique_labels(128, 3), "shortlist": 1})
        assert response.status_code == 413, response.text
        assert response.json()["error"]["message"].startswith("shortlisting this request needs")
        small = post(url, {"texts": ["a short text"], "labels": unique_labels(4, 4), "shortlist": 1})
        assert small.status_code == 200, small.text


def test_the_prior_labels_count_only_until_cached(clf: Any) -> None:
    from uniclass.processing import normalize_request
    from uniclass.serve.app import _plan_request

    labels = unique_labels(8, 5)
    request = normalize_request(["one text", "another text"], labels)
    before = _plan_request(clf, request, 10**9)
    clf.classify(["one text"], labels)  # the prior caches the labels' prompt vectors
    after = _plan_request(clf, request, 10**9)
    assert before[1] == after[1] and before[0] - after[0] >= 8 * 6  # at least a token per prompt


def test_explain_counts_the_prior_for_every_variant(clf: Any) -> None:
    from uniclass.serve.app import create_app

    text = " ".join(f"Sentence number {i} is here." for i in range(8))
    with LiveServer(create_app(clf, refusal_share=1.0)) as url:
        ok = httpx.post(f"{url}/v1/explain", json={"texts": [text], "labels": ["a", "b"]}, timeout=60)
        assert ok.status_code == 200, ok.text
    with LiveServer(create_app(clf, max_work_tokens=700, refusal_share=1.0)) as url:
        refused = httpx.post(f"{url}/v1/explain", json={"texts": [text], "labels": ["a", "b"]}, timeout=60)
    assert refused.status_code == 413 and "prior" in refused.json()["error"]["message"]


# ---------------------------------------------------------------- the planning executor
def test_planning_is_bounded_and_keeps_the_deadline() -> None:
    from uniclass.serve.batcher import Overloaded, ShuttingDown
    from uniclass.serve.planning import DeadlinePassed, Planner

    async def scenario() -> None:
        planner = Planner(threads=1, max_pending=2)
        planner.start()
        loop = asyncio.get_running_loop()
        try:
            started = loop.time()
            with pytest.raises(DeadlinePassed):
                await planner.run(time.sleep, 1.0, deadline=loop.time() + 0.2)
            assert loop.time() - started < 0.6
            slow = asyncio.ensure_future(planner.run(time.sleep, 0.5, deadline=loop.time() + 5))
            await asyncio.sleep(0.05)
            with pytest.raises(Overloaded):  # the abandoned sleep and this one hold both slots
                await planner.run(sum, [1], deadline=loop.time() + 5)
            await slow
            stop = asyncio.Event()
            loop.call_later(0.1, stop.set)
            with pytest.raises(ShuttingDown):
                await planner.run(time.sleep, 1.0, deadline=loop.time() + 5, expired=stop.wait)
        finally:
            planner.stop()

    asyncio.run(scenario())


def test_the_model_thread_runs_upload_slices_in_order() -> None:
    """A sliced job is answered slice by slice, in the fair queue's turns, its results in label order."""
    from uniclass.serve.batcher import Job, MicroBatcher

    calls: list[tuple[int, int]] = []

    def encode(start: int, stop: int) -> list[Any]:
        calls.append((start, stop))
        return [np.full(2, i) for i in range(start, stop)]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(lambda **kw: [], max_batch_work=10, max_wait_ms=0)
        await batcher.start()
        try:
            job = Job([f"l{i}" for i in range(25)], [[]] * 25, True, 0.5, work=100, text_work=[4] * 25, slices=encode)
            return await batcher.submit(job)
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert [int(r[0]) for r in results] == list(range(25))
    assert len(calls) > 5 and all(stop - start <= 3 for start, stop in calls)


def test_one_client_plans_one_request_at_a_time() -> None:
    """A client's plans run one after another, so another client always finds a planning thread free."""
    from uniclass.serve.planning import Planner

    async def scenario() -> tuple[float, float]:
        planner = Planner(threads=2, max_pending=8)
        planner.start()
        loop = asyncio.get_running_loop()
        try:
            slow = [
                asyncio.ensure_future(planner.run(time.sleep, 0.5, deadline=loop.time() + 5, client="a"))
                for _ in range(3)
            ]
            await asyncio.sleep(0.05)
            started = loop.time()
            await planner.run(sum, [1], deadline=loop.time() + 5, client="b")
            other = loop.time() - started
            await asyncio.gather(*slow)
            return other, loop.time() - started
        finally:
            planner.stop()

    other, total = asyncio.run(scenario())
    assert other < 0.3 and total > 1.2  # b at once; a's three plans one after another


def test_uploads_take_the_configured_share_of_their_clients_turns(clf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload slices go to the fair queue with ``upload_weight``; classification with a full share."""
    from uniclass.serve.app import create_app
    from uniclass.serve.batcher import Job, MicroBatcher

    weights: list[tuple[bool, float]] = []
    submit = MicroBatcher.submit

    async def recording(self: MicroBatcher, job: Job) -> list[Any]:
        weights.append((job.slices is not None, job.weight))
        return await submit(self, job)

    monkeypatch.setattr(MicroBatcher, "submit", recording)
    with LiveServer(create_app(clf, upload_weight=0.5, refusal_share=1.0)) as url:
        assert httpx.put(f"{url}/v1/label-sets/weighed", json=unique_labels(5, 3), timeout=60).status_code == 200
        assert post(url, {"texts": ["a text"], "labels": ["x", "y"]}).status_code == 200
    assert weights == [(True, 0.5), (False, 1.0)]


@pytest.mark.parametrize("weight", [0, 1.5])
def test_the_upload_weight_is_a_share(weight: float) -> None:
    from uniclass.serve.limits import Limits

    with pytest.raises(ValueError, match="upload_weight must be"):
        Limits(upload_weight=weight)


def test_a_bi_encoders_new_labels_count_until_cached(tiny_backbone: Path) -> None:
    """A bi-encoder embeds each new label once (in its label_template): counted before the first call, not after."""
    import torch

    from uniclass import Classifier
    from uniclass.processing import normalize_request
    from uniclass.serve.app import _plan_request

    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, "bi-encoder", pooling_strategy="avg", scorer_type="simple")
    clf.config.label_template = "query: This text is about {}."
    labels = unique_labels(12, 7)
    request = normalize_request(["one text", "another text"], labels)
    before = _plan_request(clf, request, 10**9)
    templated = clf.label_tokenizer([clf.config.label_input(x) for x in labels])["input_ids"]
    clf.classify(["one text"], labels)  # the engine caches the label vectors
    after = _plan_request(clf, request, 10**9)
    assert before[1] == after[1]
    assert before[0] - after[0] == sum(len(ids) for ids in templated)
