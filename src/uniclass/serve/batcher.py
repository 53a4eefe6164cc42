"""Micro-batching: concurrent requests share one model call, and clients share the model fairly.

A model call costs nearly the same for 1 text as for 16 (the encoder runs a padded batch), so under load the
service answers many requests with one call. One worker task waits until work is queued, gives the clients
that are around up to ``max_wait_ms`` to join, and asks ``FairQueue`` (``scheduler``) for the next call's
content: one turn per client in rotation, whole small requests, slices of large ones, at most
``max_batch_texts`` texts and ``max_batch_work`` tokens per call. It then runs one ``classify`` call per group
of slices with the same ``top_k`` (the only option that ``Classifier.classify`` cannot take per text: labels,
thresholds, ``multi_label``, prompts and examples are passed as per-text lists). The call runs in the
batcher's own thread, so the event loop keeps accepting requests and planning in other threads never delays
it; each request's future gets its results once all its slices are answered. A job with its own call
(``Job.call``: an explanation from ``/v1/explain``) waits in the same queue as one unit and runs alone.

Isolation: ``validate(job)`` (optional) runs per request before its first merged call, so a request that
would fail fails alone and the others are answered from the same call. A request whose client hung up or
whose deadline passed has its future cancelled; its remaining work is skipped before it reaches the model.
The queue bound counts work (encoder tokens), not only texts, and a client over its share of the bound is
refused before anyone else. ``begin_shutdown(timeout)`` refuses new work, lets the queue drain for
``timeout`` seconds, then fails what is left with ``ShuttingDown`` (HTTP 503).

Memory: with a ``trimmer`` (``serve.memory``), once the queue has been idle for ``trimmer.idle_s`` after some
work, the worker returns freed memory to the operating system on the model thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .memory import MemoryTrimmer
from .scheduler import Chunk, FairQueue, merged_results, spread

logger = logging.getLogger("uniclass.serve")
ClassifyFn = Callable[..., list[Any]]


@dataclass(eq=False)  # identity: jobs are kept in a set while they wait
class Job:
    """One request's share of a batch; every option is already validated and resolved (no ``None`` threshold)."""

    texts: list[str]
    labels: Sequence[list[str] | dict[str, Any]]  # one label list (or label tree) per text
    multi_label: bool
    threshold: float | dict[str, float]
    top_k: int | None = None
    prompt: str | None = None
    examples: list[dict[str, Any]] | None = None
    work: int = 0  # encoder tokens this job costs (counted against the queue's work bound)
    text_work: list[int] | None = None  # the same per text (what the fair queue charges); None: spread evenly
    client: Hashable = None  # who sent it (a remote address): the unit of fair sharing
    # A job that makes its own call (an explanation) instead of joining a merged ``classify`` call: it waits in the
    # same fair queue, under the same bounds, as ONE text (never sliced) costing ``work``, and runs alone.
    call: Callable[[], list[Any]] | None = field(default=None, repr=False)
    # A job answered slice by slice with its own calls (a label-set upload: ``texts`` are its labels): the fair
    # queue cuts it like any request (``text_work`` per item), and each slice runs alone as ``slices(start, stop)``.
    slices: Callable[[int, int], list[Any]] | None = field(default=None, repr=False)
    # Share of its client's turn credit this job's work gets (``scheduler.charged``): 1 for classification, less
    # for label-set uploads, whose slices are model calls of their own.
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)  # per-call classify keywords (decisions, label order)
    adapters: list[str | None] | None = None  # per text, its LoRA adapter (None: the base model)
    future: asyncio.Future[list[Any]] | None = field(default=None, repr=False)
    scheduled: int = field(default=0, repr=False)  # texts handed to model calls so far
    validated: bool = field(default=False, repr=False)
    _results: list[Any] | None = field(default=None, repr=False)
    _answered: int = field(default=0, repr=False)

    @property
    def live(self) -> bool:
        """Still wanted: not answered, not cancelled (client gone or deadline passed)."""
        return self.future is not None and not self.future.done()

    def cost(self, index: int) -> int:
        """Encoder tokens of text ``index`` (what one turn of the fair queue is charged for it)."""
        if self.text_work is None or len(self.text_work) != len(self.texts):
            self.text_work = spread(self.work, len(self.texts))
        return self.text_work[index]

    def answer(self, start: int, results: list[Any]) -> None:
        """Results of texts ``start:start+len(results)``; the future resolves once every text has its result."""
        if self._results is None:
            self._results = [None] * len(self.texts)
        self._results[start : start + len(results)] = results
        self._answered += len(results)
        if self._answered >= len(self.texts) and self.live:
            self.future.set_result(self._results)  # type: ignore[union-attr]


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
    """Keyword arguments of ONE ``classify`` call answering every job whole (options expanded per text)."""
    return merge_chunks([Chunk(job, 0, len(job.texts)) for job in jobs])


def merge_chunks(chunks: Sequence[Chunk]) -> dict[str, Any]:
    """Keyword arguments of ONE ``classify`` call answering every chunk (options expanded per text)."""
    per_text = [(chunk.job, i) for chunk in chunks for i in range(chunk.start, chunk.stop)]
    with_examples = any(chunk.job.examples for chunk in chunks)
    adapters = (
        {"adapter": [job.adapters[i] if job.adapters else None for job, i in per_text]}
        if any(chunk.job.adapters for chunk in chunks)
        else {}
    )
    return {
        "texts": [job.texts[i] for job, i in per_text],
        "labels": [job.labels[i] for job, i in per_text],
        "multi_label": [job.multi_label for job, _ in per_text],
        "threshold": [job.threshold for job, _ in per_text],
        "prompt": [job.prompt for job, _ in per_text],
        "examples": [job.examples or [] for job, _ in per_text] if with_examples else None,
        "top_k": chunks[0].job.top_k,
        **chunks[0].job.options,  # chunks are grouped by options (call_key), so the first job's are everyone's
        **adapters,  # texts with different adapters share the call (modeling.adapters)
    }


def call_key(job: Job) -> str:
    """Jobs with the same key can share one ``classify`` call: same ``top_k`` and per-call options."""
    return json.dumps([job.top_k, job.options], sort_keys=True)


class MicroBatcher:
    """A fair queue with a single worker that merges waiting requests into one model call.

    ``on_batch(requests, texts, seconds)`` is called after every model call (for metrics).
    """

    def __init__(
        self,
        classify: ClassifyFn,
        *,
        max_batch_texts: int = 64,
        max_batch_work: int | None = None,
        max_wait_ms: float = 10.0,
        max_queue_texts: int = 4096,
        max_queue_work: int | None = None,
        quantum: int = 64,
        presence_s: float = 1.0,
        on_batch: Callable[[int, int, float], None] | None = None,
        validate: Callable[[Job], None] | None = None,
        trimmer: MemoryTrimmer | None = None,
    ):
        self.classify = classify
        self.max_batch_texts = max_batch_texts
        self.max_batch_work = max_batch_work
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_texts = max_queue_texts
        self.max_queue_work = max_queue_work
        self.on_batch = on_batch
        self.validate = validate
        self.trimmer = trimmer
        self.pending_texts = 0
        self.pending_work = 0
        self.draining = False
        self.queue = FairQueue(quantum=quantum, presence_s=presence_s)
        self._client_texts: Counter[Hashable] = Counter()
        self._client_work: Counter[Hashable] = Counter()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._model_thread: ThreadPoolExecutor | None = None
        self._waiting: set[Job] = set()
        self._expired: asyncio.Event | None = None

    async def start(self) -> None:
        """Create the queue and worker on the running loop (the server's), not at construction time."""
        self._arrived = asyncio.Event()
        self._expired = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="uniclass-model")
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
        if self._expired is not None:
            self._expired.set()  # work that is not in the queue (planning) waits on this too
        _fail(list(self._waiting), ShuttingDown())

    async def until_expired(self) -> None:
        """Returns once the shutdown deadline has passed (never, while the server runs)."""
        if self._expired is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        await self._expired.wait()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._model_thread is not None:
            self._model_thread.shutdown(wait=False, cancel_futures=True)
            self._model_thread = None

    async def submit(self, job: Job) -> list[Any]:
        """Queue a job and wait for its results; raises ``Overloaded`` instead of queueing without bound."""
        if self._arrived is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self.draining:
            raise ShuttingDown()
        if not job.texts:
            return []
        self._admit(job)
        n, client = len(job.texts), job.client
        job.future = asyncio.get_running_loop().create_future()
        self.pending_texts += n
        self.pending_work += job.work
        self._client_texts[client] += n
        self._client_work[client] += job.work
        self._waiting.add(job)
        try:
            self.queue.push(job)
            self._arrived.set()
            return await job.future  # cancelling the caller cancels the future: the worker then skips the job
        finally:
            self.pending_texts -= n
            self.pending_work -= job.work
            for counter, amount in ((self._client_texts, n), (self._client_work, job.work)):
                counter[client] -= amount
                if counter[client] <= 0:
                    del counter[client]
            self._waiting.discard(job)

    def _admit(self, job: Job) -> None:
        """Raise ``Overloaded`` if the queue is full, unless the job fits its client's fair share of the bound.

        One job alone may always run (its own size is bounded per request). When the queue is full, a client
        that holds less than an equal share of it (the bound divided by the clients holding queued work) is
        still admitted: a few heavy clients filling the queue cannot lock out everyone else. What that lets
        in beyond the bound is at most one more bound's worth in all.
        """
        n, client = len(job.texts), job.client
        holders = len(self._client_texts | {client: 1})
        if self.pending_texts + n > self.max_queue_texts and (
            self._client_texts[client] + n > self.max_queue_texts // holders
        ):
            raise Overloaded(self.max_queue_texts)
        if (
            self.max_queue_work is not None
            and self.pending_work
            and self.pending_work + job.work > self.max_queue_work
            and self._client_work[client] + job.work > self.max_queue_work // holders
        ):
            raise Overloaded(self.max_queue_work, "tokens of work")

    async def _work(self) -> None:
        """Forever: gather a batch, answer it. Nothing a request does may end this loop."""
        while True:
            chunks = await self._gather()
            try:
                await self._answer(chunks)
            except Exception as err:  # pragma: no cover - _answer already routes errors to the futures
                logger.exception("batch failed")
                _fail([chunk.job for chunk in chunks], err)
            if self.trimmer is not None:  # counted here, before the worker next waits (and decides to trim)
                self.trimmer.worked(sum(chunk.job.cost(i) for chunk in chunks for i in range(chunk.start, chunk.stop)))

    async def _gather(self) -> list[Chunk]:
        """Wait for work, give present clients up to ``max_wait`` to join, then take the next call's content.

        The wait ends early once every present client has work queued (nobody left to wait for).
        """
        assert self._arrived is not None
        while True:
            while not self.queue:
                self._arrived.clear()
                if self.trimmer is not None and self.trimmer.due:
                    await self._trim_when_idle()
                    continue
                await self._arrived.wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_wait
            while self.queue.waiting_for_company():  # even behind a backlog: the backlog gets one turn per round
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            chunks = self.queue.take(self.max_batch_texts, self.max_batch_work or 2**62)
            if chunks:
                return chunks

    async def _trim_when_idle(self) -> None:
        """Wait up to ``trimmer.idle_s`` for work; if none comes, return freed memory to the OS (model thread)."""
        assert self._arrived is not None and self.trimmer is not None
        try:
            await asyncio.wait_for(self._arrived.wait(), self.trimmer.idle_s)
        except TimeoutError:
            await asyncio.get_running_loop().run_in_executor(self._model_thread, self.trimmer.trim)

    async def _answer(self, chunks: list[Chunk]) -> None:
        groups: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            if not chunk.job.live:  # skip disconnected or timed-out clients
                continue
            if chunk.job.call is not None:
                await self._run_own(chunk.job)
            elif chunk.job.slices is not None:
                await self._run_slice(chunk)
            else:
                groups.setdefault(call_key(chunk.job), []).append(chunk)
        for group in groups.values():
            await self._run_group(group)
        for chunk in chunks:
            self.queue.seen(chunk.job.client)  # answered just now: its client counts as present

    async def _run_group(self, group: list[Chunk]) -> None:
        """One model call for the group; a request that fails validation fails alone, the rest share the call.

        If the merged call still fails (an error validation could not see), each chunk is retried alone.
        """
        loop = asyncio.get_running_loop()
        group = [chunk for chunk in group if chunk.job.live]
        if self.validate is not None and any(not chunk.job.validated for chunk in group):
            group = await asyncio.to_thread(self._valid, group)
        if not group:
            return
        started = loop.time()
        try:
            results = await loop.run_in_executor(self._model_thread, lambda: self.classify(**merge_chunks(group)))
        except Exception as err:  # noqa: BLE001 - any failure goes to the requests, never ends the worker
            if len(group) == 1:
                _fail([group[0].job], err)
                return
            for chunk in group:
                if chunk.job.live:
                    await self._run_group([chunk])
            return
        if self.on_batch is not None:
            self.on_batch(
                len({id(chunk.job) for chunk in group}), sum(len(chunk) for chunk in group), loop.time() - started
            )
        for chunk, answer in merged_results(group, results):
            if chunk.job.live:
                chunk.job.answer(chunk.start, answer)

    async def _run_own(self, job: Job) -> None:
        """A job with its own call (``Job.call``), alone on the model thread; its error is its own."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            if job.call is None:  # inside the try: like any error here, it fails this job, not the worker
                raise ValueError("a job without its own call reached _run_own")
            results = await loop.run_in_executor(self._model_thread, job.call)
        except Exception as err:  # noqa: BLE001 - the error belongs to that request only
            _fail([job], err)
            return
        if self.on_batch is not None:
            self.on_batch(1, len(job.texts), loop.time() - started)
        if job.live:
            job.future.set_result(results)  # type: ignore[union-attr]

    async def _run_slice(self, chunk: Chunk) -> None:
        """One slice of a sliced job (``Job.slices``), alone on the model thread; its error is its own."""
        loop = asyncio.get_running_loop()
        job, started = chunk.job, loop.time()
        try:
            results = await loop.run_in_executor(self._model_thread, job.slices, chunk.start, chunk.stop)
        except Exception as err:  # noqa: BLE001 - the error belongs to that request only
            _fail([job], err)
            return
        if self.on_batch is not None:
            self.on_batch(1, len(chunk), loop.time() - started)
        if job.live:
            job.answer(chunk.start, list(results))

    def _valid(self, group: list[Chunk]) -> list[Chunk]:
        """The chunks whose jobs pass ``validate``; the others' futures get their error now (runs in a thread)."""
        ok = []
        for chunk in group:
            job = chunk.job
            if not job.validated:
                try:
                    self.validate(job)  # type: ignore[misc]
                except Exception as err:  # noqa: BLE001 - the error belongs to that request only
                    if self._loop is not None:
                        self._loop.call_soon_threadsafe(_fail, [job], err)
                    continue
                job.validated = True
            ok.append(chunk)
        return ok


def _fail(jobs: Sequence[Job], err: BaseException) -> None:
    for job in jobs:
        if job.future is not None and not job.future.done():
            job.future.set_exception(err)
