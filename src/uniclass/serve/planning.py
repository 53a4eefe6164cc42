"""Request planning (tokenizing, counting work) on its own small, bounded executor, under the request's deadline.

Planning used to share asyncio's default thread pool with everything else that runs in a thread, so a few slow
jobs there (label-set uploads) held every classify request before its deadline even started. Here planning has
its own threads (``threads``), at most ``max_pending`` plans wait or run at once (more: ``Overloaded``, HTTP
503), one client (remote address) has at most one plan running at a time (its others wait their turn, so one
client cannot hold every planning thread, e.g. while the first upload loads a retriever model), and a plan is
abandoned when the request's deadline passes (``DeadlinePassed``, HTTP 504) or the shutdown deadline
does (``ShuttingDown``, HTTP 503). Planning stops once a request is certain to be over its budget, so
an abandoned plan finishes soon in its thread; it still holds its slot until then.

Example:
    >>> planner = Planner(threads=1, max_pending=4)
    >>> async def plan() -> int:
    ...     planner.start()
    ...     try:
    ...         return await planner.run(sum, [1, 2, 3], deadline=asyncio.get_running_loop().time() + 5)
    ...     finally:
    ...         planner.stop()
    >>> asyncio.run(plan())
    6
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .batcher import Overloaded, ShuttingDown

T = TypeVar("T")


class DeadlinePassed(Exception):
    """The request's deadline passed before it was answered (HTTP 504)."""


class Planner:
    """A dedicated executor for planning: ``threads`` threads, at most ``max_pending`` plans at once."""

    def __init__(self, threads: int = 2, max_pending: int = 64):
        self.threads, self.max_pending, self.pending = threads, max_pending, 0
        self._pool: ThreadPoolExecutor | None = None
        self._turns: dict[Any, tuple[asyncio.Lock, int]] = {}  # client -> (its lock, plans waiting on it)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="uniclass-plan")

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        deadline: float,
        expired: Callable[[], Awaitable[None]] | None = None,
        client: Any = None,
    ) -> T:
        """``fn(*args)`` on a planning thread, after ``client``'s earlier plans; raises ``DeadlinePassed`` at
        ``deadline`` (the loop's clock), ``ShuttingDown`` when ``expired()`` returns first, ``Overloaded`` when
        ``max_pending`` plans are waiting or running."""
        if self._pool is None:
            raise RuntimeError("Planner.start() was not called")
        if self.pending >= self.max_pending:
            raise Overloaded(self.max_pending, "requests being planned")
        lock, waiting = self._turns.get(client) or (asyncio.Lock(), 0)
        self._turns[client] = (lock, waiting + 1)
        try:
            await asyncio.wait_for(lock.acquire(), max(0.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            self._leave(client)
            raise DeadlinePassed() from None
        try:
            return await self._run(fn, args, deadline, expired)
        finally:
            lock.release()
            self._leave(client)

    def _leave(self, client: Any) -> None:
        lock, waiting = self._turns[client]
        if waiting <= 1:
            del self._turns[client]
        else:
            self._turns[client] = (lock, waiting - 1)

    async def _run(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        deadline: float,
        expired: Callable[[], Awaitable[None]] | None,
    ) -> T:
        if self.pending >= self.max_pending:
            raise Overloaded(self.max_pending, "requests being planned")
        if self._pool is None:  # stop() ran while this plan waited for its client's turn
            raise ShuttingDown()
        loop = asyncio.get_running_loop()
        self.pending += 1
        work = self._pool.submit(fn, *args)
        # the slot is free when the thread is done, not when we stop waiting (an abandoned plan still runs)
        work.add_done_callback(lambda _: _call_soon(loop, self._release))
        future = asyncio.wrap_future(work)
        waiters: set[asyncio.Future[Any]] = {future}
        stop = asyncio.ensure_future(expired()) if expired is not None else None
        if stop is not None:
            waiters.add(stop)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if stop is not None:
                stop.cancel()
        if future in done:
            return future.result()
        future.cancel()
        if stop is not None and stop in done:
            raise ShuttingDown()
        raise DeadlinePassed()

    def _release(self) -> None:
        self.pending -= 1


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)
