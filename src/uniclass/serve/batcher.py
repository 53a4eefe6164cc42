"""Micro-batching: concurrent requests share one model call.

A model call costs nearly the same for 1 text as for 16 (the encoder runs a padded batch), so under load the
service answers many requests with one call. One worker task takes the first waiting request, collects more
for at most ``max_wait_ms`` or until ``max_batch_texts`` texts, and runs one ``classify`` call per group of
requests with the same ``top_k`` (the only option that ``Classifier.classify`` cannot take per text: labels,
thresholds, ``multi_label``, prompts and examples are passed as per-text lists). The call runs in a thread so
the event loop keeps accepting requests meanwhile; each request's future gets its own slice of the results.

Isolation: ``validate(job)`` (the app's planner) runs per request before the merged call, so a request that
would fail fails alone and the others are answered from the same call. A request whose client hung up or
whose deadline passed has its future cancelled; its work is skipped before it reaches the model. The queue
bound counts work (encoder tokens), not only texts. ``begin_shutdown(timeout)`` refuses new work, lets the
queue drain for ``timeout`` seconds, then fails what is left with ``ShuttingDown`` (HTTP 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("uniclass.serve")
ClassifyFn = Callable[..., list[Any]]


@dataclass(eq=False)  # identity: jobs are kept in a set while they wait
class Job:
    """One request's share of a batch; every option is already validated and resolved (no ``None`` threshold)."""

    texts: list[str]
    labels: list[list[str]]  # one label list per text
    multi_label: bool
    threshold: float | dict[str, float]
    top_k: int | None = None
    prompt: str | None = None
    examples: list[dict[str, Any]] | None = None
    work: int = 0  # encoder tokens this job costs (counted against the queue's work bound)
    options: dict[str, Any] = field(default_factory=dict)  # per-call classify keywords (decisions, label order)
    future: asyncio.Future[list[Any]] | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        """Still wanted: not answered, not cancelled (client gone or deadline passed)."""
        return self.future is not None and not self.future.done()


class Overloaded(Exception):
    """More texts (or work) are waiting than the queue bound: the client should retry later (HTTP 503)."""

    def __init__(self, limit: int, unit: str = "texts"):
        super().__init__(f"the service has {limit} {unit} waiting already; retry later")
        self.limit = limit


class ShuttingDown(Exception):
    """The server is stopping: the request was not (or could not be) answered in time (HTTP 503)."""

    def __init__(self) -> None:
        super().__init__("the service is shutting down; retry on another instance or later")
        self.limit = None


def merge_jobs(jobs: Sequence[Job]) -> dict[str, Any]:
    """Keyword arguments of ONE ``classify`` call answering every job (options expanded per text)."""
    per_text = [(job, i) for job in jobs for i in range(len(job.texts))]
    with_examples = any(job.examples for job in jobs)
    return {
        "texts": [job.texts[i] for job, i in per_text],
        "labels": [job.labels[i] for job, i in per_text],
        "multi_label": [job.multi_label for job, _ in per_text],
        "threshold": [job.threshold for job, _ in per_text],
        "prompt": [job.prompt for job, _ in per_text],
        "examples": [job.examples or [] for job, _ in per_text] if with_examples else None,
        "top_k": jobs[0].top_k,
        **jobs[0].options,  # jobs are grouped by options (call_key), so the first job's are everyone's
    }


def call_key(job: Job) -> str:
    """Jobs with the same key can share one ``classify`` call: same ``top_k`` and per-call options."""
    return json.dumps([job.top_k, job.options], sort_keys=True)


class MicroBatcher:
    """An asyncio queue with a single worker that merges waiting requests into one model call.

    ``on_batch(requests, texts, seconds)`` is called after every model call (for metrics).
    """

    def __init__(
        self,
        classify: ClassifyFn,
        *,
        max_batch_texts: int = 64,
        max_wait_ms: float = 10.0,
        max_queue_texts: int = 4096,
        max_queue_work: int | None = None,
        on_batch: Callable[[int, int, float], None] | None = None,
        validate: Callable[[Job], None] | None = None,
    ):
        self.classify = classify
        self.max_batch_texts = max_batch_texts
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_texts = max_queue_texts
        self.max_queue_work = max_queue_work
        self.on_batch = on_batch
        self.validate = validate
        self.pending_texts = 0
        self.pending_work = 0
        self.draining = False
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: set[Job] = set()

    async def start(self) -> None:
        """Create the queue and worker on the running loop (the server's), not at construction time."""
        self._queue = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._worker = asyncio.create_task(self._work(), name="uniclass-batcher")

    def begin_shutdown(self, timeout: float) -> None:
        """Refuse new jobs now; after ``timeout`` seconds fail every unanswered job with ``ShuttingDown``.

        Safe to call from a signal handler: the work is scheduled on the batcher's loop.
        """
        self.draining = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.call_later, max(timeout, 0.0), self.expire)

    def expire(self) -> None:
        """Answer every job still waiting (queued or in the running call) with ``ShuttingDown``."""
        _fail(list(self._waiting), ShuttingDown())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    async def submit(self, job: Job) -> list[Any]:
        """Queue a job and wait for its results; raises ``Overloaded`` instead of queueing without bound."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self.draining:
            raise ShuttingDown()
        n = len(job.texts)
        if self.pending_texts + n > self.max_queue_texts:
            raise Overloaded(self.max_queue_texts)
        # one job alone may always run (its own size is bounded per request), so only a non-empty queue refuses
        if self.max_queue_work is not None and self.pending_work and self.pending_work + job.work > self.max_queue_work:
            raise Overloaded(self.max_queue_work, "tokens of work")
        job.future = asyncio.get_running_loop().create_future()
        self.pending_texts += n
        self.pending_work += job.work
        self._waiting.add(job)
        try:
            self._queue.put_nowait(job)
            return await job.future  # cancelling the caller cancels the future: the worker then skips the job
        finally:
            self.pending_texts -= n
            self.pending_work -= job.work
            self._waiting.discard(job)

    async def _work(self) -> None:
        """Forever: gather a batch, answer it. Nothing a request does may end this loop."""
        while True:
            batch = await self._gather()
            try:
                await self._answer(batch)
            except Exception as err:  # pragma: no cover - _answer already routes errors to the futures
                logger.exception("batch failed")
                _fail(batch, err)

    async def _gather(self) -> list[Job]:
        assert self._queue is not None
        first = await self._queue.get()
        while not first.live:  # skip work whose client hung up or timed out
            first = await self._queue.get()
        batch, texts = [first], len(first.texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while texts < self.max_batch_texts:
            remaining = deadline - loop.time()
            try:
                job = self._queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self._queue.get(), remaining)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            if not job.live:
                continue
            batch.append(job)
            texts += len(job.texts)
        return batch

    async def _answer(self, batch: list[Job]) -> None:
        live = [job for job in batch if job.live]  # skip disconnected or timed-out clients
        groups: dict[str, list[Job]] = {}
        for job in live:
            groups.setdefault(call_key(job), []).append(job)
        for group in groups.values():
            await self._run_group(group)

    async def _run_group(self, group: list[Job]) -> None:
        """One model call for the group; a request that fails validation fails alone, the rest share the call.

        If the merged call still fails (an error validation could not see), each request is retried alone.
        """
        loop = asyncio.get_running_loop()
        group = [job for job in group if job.live]
        if self.validate is not None and len(group) > 1:
            group = await asyncio.to_thread(self._valid, group)
        if not group:
            return
        started = loop.time()
        try:
            results = await asyncio.to_thread(self.classify, **merge_jobs(group))
        except Exception as err:  # noqa: BLE001 - any failure goes to the requests, never ends the worker
            if len(group) == 1:
                _fail(group, err)
                return
            for job in group:
                if job.live:
                    await self._run_group([job])
            return
        if self.on_batch is not None:
            self.on_batch(len(group), sum(len(job.texts) for job in group), loop.time() - started)
        start = 0
        for job in group:
            end = start + len(job.texts)
            if job.future is not None and not job.future.done():
                job.future.set_result(results[start:end])
            start = end


    def _valid(self, group: list[Job]) -> list[Job]:
        """The jobs that pass ``validate``; the others' futures get their error now (runs in a thread)."""
        ok = []
        for job in group:
            try:
                self.validate(job)  # type: ignore[misc]
            except Exception as err:  # noqa: BLE001 - the error belongs to that request only
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(_fail, [job], err)
                continue
            ok.append(job)
        return ok


def _fail(jobs: Sequence[Job], err: BaseException) -> None:
    for job in jobs:
        if job.future is not None and not job.future.done():
            job.future.set_exception(err)
