"""Freed memory goes back to the operating system once the server is idle after work (serve.memory)."""

from __future__ import annotations

import asyncio
import ctypes
from typing import Any

import pytest

from uniclass.serve.batcher import Job, MicroBatcher
from uniclass.serve.memory import MemoryTrimmer, malloc_trim_function


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(malloc_trim_function() is None, reason="needs glibc's malloc_trim")
def test_malloc_trim_returns_freed_heap_memory_to_the_kernel() -> None:
    """64 MB of small blocks freed behind one block still in use: free() keeps the pages, malloc_trim gives them
    back (what the server's RSS did not do after abuse before it trimmed)."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(1024) for _ in range(64 * 1024)]  # below the mmap threshold: from the heap
    for block in blocks:
        ctypes.memset(block, 1, 1024)  # touched: resident
    pin = libc.malloc(1024)  # in use above them: the heap's top cannot shrink on free
    for block in blocks:
        libc.free(block)
    freed = rss_kb()
    trim = malloc_trim_function()
    assert trim is not None and trim(0) == 1
    trimmed = rss_kb()
    libc.free(pin)
    assert freed - trimmed > 32 * 1024, (freed, trimmed)


def test_without_glibc_trimming_is_a_no_op() -> None:
    trimmer = MemoryTrimmer(idle_s=0.01, trim=None)
    trimmer.worked(100)
    assert not trimmer.due and trimmer.trim() is False and trimmer.trims == 0


def echo(texts: list[str], labels: Any, **options: Any) -> list[Any]:
    return [[{"label": "x", "score": 1.0}] for _ in texts]


def test_the_batcher_trims_once_after_work_when_idle() -> None:
    calls: list[int] = []
    trimmer = MemoryTrimmer(idle_s=0.25, trim=lambda pad: calls.append(pad) or 1)

    async def scenario() -> tuple[int, int, int]:
        batcher = MicroBatcher(echo, max_wait_ms=0, trimmer=trimmer)
        await batcher.start()
        try:
            await asyncio.sleep(0.4)
            before_work = len(calls)  # nothing answered yet: nothing to give back
            for _ in range(3):  # back to back: the queue is never idle for 250 ms in between
                await batcher.submit(Job(["a"], [["x"]], True, 0.5, work=10, client="c"))
            during = len(calls)
            await asyncio.sleep(1.0)  # idle: one trim, and no more until new work
            return before_work, during, len(calls)
        finally:
            await batcher.stop()

    before_work, during, after = asyncio.run(scenario())
    assert (before_work, during, after) == (0, 0, 1) and calls == [0]


def test_work_arriving_while_idle_is_not_held_for_the_trim() -> None:
    trimmer = MemoryTrimmer(idle_s=5.0, trim=lambda pad: 1)

    async def scenario() -> float:
        batcher = MicroBatcher(echo, max_wait_ms=0, trimmer=trimmer)
        await batcher.start()
        loop = asyncio.get_running_loop()
        try:
            await batcher.submit(Job(["a"], [["x"]], True, 0.5, work=10, client="c"))
            await asyncio.sleep(0.05)  # the worker now waits up to 5 s of idleness before trimming
            started = loop.time()
            await batcher.submit(Job(["b"], [["x"]], True, 0.5, work=10, client="c"))
            return loop.time() - started
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) < 1.0
    assert trimmer.trims == 0


def test_the_server_trims_after_answering_where_glibc_has_malloc_trim(clf: Any) -> None:
    pytest.importorskip("fastapi")
    import time

    from fastapi.testclient import TestClient

    from uniclass.serve.app import create_app

    app = create_app(clf, idle_trim_s=0.2, max_wait_ms=0)
    trimmer = app.state.batcher.trimmer
    with TestClient(app) as client:
        time.sleep(0.5)
        assert trimmer.trims == 0  # nothing answered yet
        answer = client.post("/v1/classify", json={"texts": ["a text"], "labels": ["x", "y"]})
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while trimmer.trims == 0 and time.monotonic() < deadline and malloc_trim_function() is not None:
            time.sleep(0.05)
    assert trimmer.trims == (1 if malloc_trim_function() is not None else 0)
