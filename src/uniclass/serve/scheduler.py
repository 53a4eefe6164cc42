"""Fair sharing of the model between clients: what goes into the next model call.

The model is one worker, so whoever fills a call delays everyone behind it. ``FairQueue`` decides each call's
content by surplus round robin (deficit round robin whose last item may overdraw the credit) over clients (a
client is a remote address, see ``app.client_id``), counted in encoder tokens of work:

- service goes in rounds, and every client with queued work gets one turn per round, in rotation; a turn adds
  ``quantum`` tokens of credit and takes whole texts while the credit is positive (the last one may overdraw
  it; the overdraft is paid from the next rounds' credit), so a small request goes whole in one turn, and a
  large one is cut into slices of about ``quantum`` tokens spread over successive rounds. A client whose
  line empties keeps no credit and no overdraft, as in deficit round robin;
- a round may span several calls: a client that has had its turn waits until every other client with queued
  work has had its own, so clients that come back late in a round (answered, sending their next request)
  are served before a backlogged client's next slice;
- a call holds at most ``max_texts`` texts and ``max_work`` tokens (one text bigger than that goes alone), so
  one heavy request cannot make a single long call that everyone waits behind;
- while a client is *present* (seen within ``presence_s``) but has nothing queued, as a client waiting for
  its answer before sending the next request is, a call holds at most one round: it is not filled up with
  backlogged work, so the returning client does not wait behind it. With nobody else around, a backlogged
  client gets round after round and fills the call (no capacity is wasted).

So a client sending a request at a time gets the same share per round as one with a deep backlog: under load
a backlogged client's share of the model is about ``quantum`` tokens per round of everyone else's requests.

Within one client, its requests also take turns (a long one goes to the back of the client's line after each
slice), so a short request behind a long one from the same address is not held for all of it.

Kinds of work can weigh differently: a job's ``weight`` (1 for classification) divides what its texts cost the
client's credit, not what they cost the call. Label-set uploads run with a weight below 1 (``Limits.upload_weight``,
0.25 by default): a client's upload gets a quarter of a quantum per round, because each upload slice is a model
call of its own beside the round's merged classification call, so a backlog of uploads costs the other clients
more per token than a backlog of classification.

Deterministic and synchronous (the clock is injectable): the tests check the order of service directly.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Schedulable(Protocol):
    """What the queue needs of a job (``batcher.Job``)."""

    texts: list[str]
    client: Hashable
    scheduled: int  # texts already handed to model calls
    weight: float  # share of its client's turn credit this job's work gets (1: full; 0.25: a quarter)

    @property
    def live(self) -> bool: ...

    def cost(self, index: int) -> int: ...


@dataclass(frozen=True)
class Chunk:
    """Texts ``start:stop`` of one job, answered by one model call."""

    job: Any
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


class FairQueue:
    """Deficit round robin over clients, one turn per client per call while others are present (module doc)."""

    def __init__(self, quantum: int = 64, presence_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if quantum < 1:
            raise ValueError(f"quantum must be >= 1, got {quantum}")
        self.quantum, self.presence_s, self.clock = quantum, presence_s, clock
        self._lines: dict[Hashable, deque[Any]] = {}  # clients with queued jobs, in rotation order
        self._credit: dict[Hashable, int] = {}
        self._seen: dict[Hashable, float] = {}
        self._turned: set[Hashable] = set()  # clients that had their turn in the current round

    # ---------------------------------------------------------------- state
    def push(self, job: Schedulable) -> None:
        """Queue a job at the end of its client's line (a new client joins the end of the rotation)."""
        self._lines.setdefault(job.client, deque()).append(job)
        self.seen(job.client)

    def seen(self, client: Hashable) -> None:
        """The client sent a request or got an answer just now (it counts as present for ``presence_s``)."""
        self._seen[client] = self.clock()

    def __bool__(self) -> bool:
        self._drop_dead()
        return bool(self._lines)

    def clients(self) -> list[Hashable]:
        """Clients with queued work, in the order their next turns come."""
        self._drop_dead()
        return list(self._lines)

    def waiting_for_company(self) -> bool:
        """Whether a present client has nothing queued (it may send its next request any moment)."""
        now = self.clock()
        for client, when in list(self._seen.items()):
            if now - when > self.presence_s:
                del self._seen[client]  # forget absent clients: the table stays as small as the present set
            elif client not in self._lines:
                return True
        return False

    # ---------------------------------------------------------------- the next call
    def take(self, max_texts: int, max_work: int) -> list[Chunk]:
        """The content of the next model call (empty only when nothing live is queued)."""
        self._drop_dead()
        chunks: list[Chunk] = []
        room = [max_texts, max_work]
        while self._lines:
            due = [client for client in self._lines if client not in self._turned]
            if not due:  # everyone queued has had a turn: a new round, unless this call already holds one while
                # a client is around with nothing queued (those served whole in this call are, too)
                if chunks and self.waiting_for_company():
                    break
                self._turned.clear()
                continue
            for client in due:
                self._turned.add(client)
                if self._turn(client, chunks, room):
                    return chunks  # the call is full; the rotation resumes after this client
        return chunks

    def _turn(self, client: Hashable, chunks: list[Chunk], room: list[int]) -> bool:
        """One turn of ``client``: credit a quantum, take whole texts while the credit is positive and the call
        has room. Returns whether the call is full."""
        line = self._lines[client]
        credit = self._credit.get(client, 0) + self.quantum
        full = False
        while line and not full:
            job = line[0]
            if not job.live:
                line.popleft()
                continue
            start = stop = job.scheduled
            while stop < len(job.texts):
                cost = job.cost(stop)
                if credit <= 0:
                    break
                if room[0] < 1 or (cost > room[1] and (chunks or stop > start)):
                    full = True
                    break
                credit -= charged(cost, job.weight)
                room[0], room[1] = room[0] - 1, room[1] - cost
                stop += 1
            if stop > start:
                if chunks and chunks[-1].job is job and chunks[-1].stop == start:
                    start = chunks.pop().start  # the same job's next slice in the same call: one chunk
                chunks.append(Chunk(job, start, stop))
                job.scheduled = stop
            if job.scheduled == len(job.texts):
                line.popleft()  # all of it is on its way: the client's next job may use the rest of the turn
                continue
            if not full:
                line.rotate(-1)  # out of credit mid-job: the client's other jobs go first next turn
            break
        del self._lines[client]
        if line:
            self._lines[client] = line  # to the end of the rotation, keeping its unspent credit
            self._credit[client] = credit
        else:
            self._credit.pop(client, None)  # no queued work: no credit banked (deficit round robin)
        return full or room[0] < 1 or room[1] < 1

    def _drop_dead(self) -> None:
        """Forget jobs whose clients hung up or timed out, and clients left with nothing queued."""
        for client in list(self._lines):
            line = self._lines[client]
            if any(not job.live for job in line):
                live = deque(job for job in line if job.live)
                if live:
                    self._lines[client] = line = live
                else:
                    del self._lines[client]
                    self._credit.pop(client, None)


def charged(cost: int, weight: float) -> int:
    """What a text costing ``cost`` tokens takes from its client's credit in a job of ``weight`` (0 < weight <= 1).

    Example:
        >>> charged(60, 1.0), charged(60, 0.25), charged(1, 0.3)
        (60, 240, 4)
    """
    if weight >= 1:  # classification: exactly its cost, as before weights existed
        return cost
    return max(1, math.ceil(cost / weight))


def spread(work: int, texts: int) -> list[int]:
    """Per-text costs summing to ``work`` when only the total is known (at least 1 each)."""
    if texts <= 0:
        return []
    base, extra = divmod(max(work, texts), texts)
    return [base + (i < extra) for i in range(texts)]


def merged_results(chunks: Sequence[Chunk], results: Sequence[Any]) -> list[tuple[Chunk, list[Any]]]:
    """Each chunk with its slice of one call's results (in the order the chunks were merged)."""
    out, start = [], 0
    for chunk in chunks:
        out.append((chunk, list(results[start : start + len(chunk)])))
        start += len(chunk)
    return out
