"""MicroBatcher without a model: requests with different options share one call, and a bad one fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

from uniclass.serve.batcher import Job, MicroBatcher, merge_jobs


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
