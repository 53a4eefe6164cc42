"""MicroBatcher without a model: requests with different options share one call, and a bad one fails alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from uniclass.serve.batcher import Job, MicroBatcher, Overloaded, ShuttingDown, merge_jobs


def fake_classify(calls: list[dict[str, Any]]) -> Any:
    """Echo each text with its threshold and multi_label; 'boom' makes the whole call fail."""

    def classify(texts: list[str], labels: list[list[str]], **options: Any) -> list[Any]:
        calls.append({"texts": texts, "labels": labels, **options})
        if "boom" in texts:
            raise ValueError("boom is not allowed")
        return [[{"label": f"{t}:{th}:{m}", "score": 1.0}] for t, th, m in
                zip(texts, options["threshold"], options["multi_label"], strict=True)]

    return classify


def run(jobs: list[Job], calls: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    async def main() -> list[Any]:
        batcher = MicroBatcher(fake_classify(calls), max_wait_ms=50, **kwargs)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(job) for job in jobs), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_different_options_share_one_call() -> None:
    calls: list[dict[str, Any]] = []
    jobs = [
        Job(["a", "b"], [["x"], ["y"]], True, 0.5),
        Job(["c"], [["z"]], False, 0.1, prompt="p"),
        Job(["d"], [["x"]], True, {"x": 0.2}, examples=[{"text": "e", "labels": ["x"]}]),
    ]
    results = run(jobs, calls)
    assert len(calls) == 1
    assert calls[0]["texts"] == ["a", "b", "c", "d"] and calls[0]["prompt"] == [None, None, "p", None]
    assert calls[0]["examples"] == [[], [], [], [{"text": "e", "labels": ["x"]}]]
    assert [[r[0]["label"] for r in result] for result in results] == [
        ["a:0.5:True", "b:0.5:True"], ["c:0.1:False"], ["d:{'x': 0.2}:True"]]


def test_top_k_splits_groups() -> None:
    calls: list[dict[str, Any]] = []
    run([Job(["a"], [["x"]], True, 0.5, top_k=1), Job(["b"], [["x"]], True, 0.5), Job(["c"], [["x"]], True, 0.5, top_k=1)], calls)
    assert {c["top_k"]: c["texts"] for c in calls} == {1: ["a", "c"], None: ["b"]} and len(calls) == 2


def test_a_failing_request_fails_alone() -> None:
    calls: list[dict[str, Any]] = []
    results = run([Job(["a"], [["x"]], True, 0.5), Job(["boom"], [["x"]], True, 0.5), Job(["c"], [["x"]], True, 0.5)], calls)
    assert isinstance(results[1], ValueError)
    assert results[0][0][0]["label"] == "a:0.5:True" and results[2][0][0]["label"] == "c:0.5:True"
    assert len(calls) == 4  # the merged call, then each request alone


def test_max_batch_texts_caps_a_call() -> None:
    calls: list[dict[str, Any]] = []
    run([Job([f"t{i}"], [["x"]], True, 0.5) for i in range(10)], calls, max_batch_texts=4)
    assert [len(c["texts"]) for c in calls] == [4, 4, 2]


def test_merge_jobs_without_examples() -> None:
    merged = merge_jobs([Job(["a"], [["x"]], True, 0.5), Job(["b"], [["y"]], False, 0.3)])
    assert merged["examples"] is None and merged["multi_label"] == [True, False] and merged["threshold"] == [0.5, 0.3]


def blocking_classify(calls: list[list[str]], release: threading.Event) -> Any:
    def classify(texts: list[str], labels: list[list[str]], **options: Any) -> list[Any]:
        calls.append(list(texts))
        release.wait(5)
        return [[] for _ in texts]

    return classify


def test_validation_failure_fails_alone_and_the_rest_share_one_call() -> None:
    calls: list[dict[str, Any]] = []

    def validate(job: Job) -> None:
        if "boom" in job.texts:
            raise ValueError("boom is not allowed")

    results = run([Job(["a"], [["x"]], True, 0.5), Job(["boom"], [["x"]], True, 0.5), Job(["c"], [["x"]], True, 0.5)],
                  calls, validate=validate)
    assert isinstance(results[1], ValueError) and len(calls) == 1 and calls[0]["texts"] == ["a", "c"]
    assert results[0][0][0]["label"] == "a:0.5:True" and results[2][0][0]["label"] == "c:0.5:True"


def run_blocked(scenario: Callable[[MicroBatcher, threading.Event], Awaitable[None]], **kwargs: Any) -> list[list[str]]:
    """Play ``scenario`` against a started batcher whose model call blocks until the event is set (so a test
    can hold a call running while it queues, cancels or shuts down); the texts of every model call."""
    calls: list[list[str]] = []
    release = threading.Event()

    async def main() -> None:
        batcher = MicroBatcher(blocking_classify(calls, release), max_wait_ms=0, **kwargs)
        await batcher.start()
        try:
            await scenario(batcher, release)
        finally:
            await batcher.stop()

    asyncio.run(main())
    return calls


def test_cancelled_work_never_reaches_the_model() -> None:
    async def scenario(batcher: MicroBatcher, release: threading.Event) -> None:
        first = asyncio.ensure_future(batcher.submit(Job(["a"], [["x"]], True, 0.5)))
        await asyncio.sleep(0.05)  # the first call is running
        gone = [asyncio.ensure_future(batcher.submit(Job([f"g{i}"], [["x"]], True, 0.5))) for i in range(3)]
        await asyncio.sleep(0.01)
        for task in gone:
            task.cancel()  # the clients hung up
        await asyncio.sleep(0.01)
        assert batcher.pending_texts == 1
        release.set()
        await first
        await asyncio.sleep(0.05)

    assert run_blocked(scenario) == [["a"]]


def test_queue_bound_counts_work() -> None:
    async def scenario(batcher: MicroBatcher, release: threading.Event) -> None:
        first = asyncio.ensure_future(batcher.submit(Job(["a"], [["x"]], True, 0.5, work=100)))
        await asyncio.sleep(0.02)
        with pytest.raises(Overloaded, match="150 tokens of work"):
            await batcher.submit(Job(["b"], [["x"]], True, 0.5, work=100))
        release.set()
        await first

    run_blocked(scenario, max_queue_work=150)


def test_shutdown_drains_then_answers_503() -> None:
    async def scenario(batcher: MicroBatcher, release: threading.Event) -> None:
        running = asyncio.ensure_future(batcher.submit(Job(["a"], [["x"]], True, 0.5)))
        await asyncio.sleep(0.02)
        queued = asyncio.ensure_future(batcher.submit(Job(["b"], [["x"]], True, 0.5)))
        await asyncio.sleep(0.01)
        batcher.begin_shutdown(0.2)
        with pytest.raises(ShuttingDown):
            await batcher.submit(Job(["c"], [["x"]], True, 0.5))  # no new work
        started = time.monotonic()
        for task in (running, queued):
            with pytest.raises(ShuttingDown):
                await task
        assert time.monotonic() - started < 1
        release.set()

    run_blocked(scenario)


def test_decision_options_split_groups_and_reach_the_call() -> None:
    calls: list[dict[str, Any]] = []
    plain = Job(["a"], [["x", "y"]], True, 0.5)
    grouped = Job(["b"], [["x", "y"]], True, 0.5, options={"groups": [["x", "y"]], "abstain": 0.2})
    same = Job(["c"], [["x", "y"]], True, 0.5, options={"abstain": 0.2, "groups": [["x", "y"]]})
    run([plain, grouped, same], calls)
    assert len(calls) == 2
    merged = next(call for call in calls if "groups" in call)
    assert merged["texts"] == ["b", "c"] and merged["abstain"] == 0.2
