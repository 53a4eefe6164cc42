"""Pacing of clients whose requests are refused (stdlib only).

Refusing a request is cheap, but not free: its body is read and parsed, and a request within the character
limits may have to be planned before it is known to be over the work budget. A client that sends such
requests back to back would get the server's CPU for as long as it keeps going, whatever the model's fair
queue does. ``RefusalPacer`` charges every refusal (a 4xx other than 429 and 499) to its client: the time it
took to handle, at least ``floor_s``, divided by ``share``. The client's next request waits until that debt
is paid off, before its body is read. So refused requests cost at most ``share`` of a core per client, and a
client that never has a request refused never waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class RefusalPacer:
    """Per-client debt of refused requests, paid off in wall-clock time (module doc)."""

    def __init__(
        self,
        share: float,
        *,
        floor_s: float = 0.005,
        max_wait_s: float = 2.0,
        max_debt_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.share, self.floor_s, self.max_wait_s, self.max_debt_s, self.clock = (
            share,
            floor_s,
            max_wait_s,
            max_debt_s,
            clock,
        )
        self._paid_at: dict[Hashable, float] = {}  # client -> when its debt is paid off

    @staticmethod
    def refused(status: int) -> bool:
        """A refusal the client caused: any 4xx but 429 (already paced) and 499 (it hung up), and a 503 (the
        queue refuses only a client that holds more than its share of it: one sending more work than it can be
        given, e.g. uploads back to back, would otherwise have each refused request planned at full speed)."""
        return (400 <= status < 500 and status not in (429, 499)) or status == 503

    def wait_s(self, client: Hashable) -> float:
        """Seconds ``client`` still owes (0: it may go now)."""
        paid_at = self._paid_at.get(client)
        if paid_at is None:
            return 0.0
        left = paid_at - self.clock()
        if left <= 0:
            del self._paid_at[client]
            return 0.0
        return left

    def charge(self, client: Hashable, seconds: float) -> None:
        """A request of ``client`` was refused after ``seconds`` of handling."""
        now = self.clock()
        if len(self._paid_at) > 4096:  # forget the paid-up, so scanners from many addresses cannot grow the table
            self._paid_at = {c: t for c, t in self._paid_at.items() if t > now}
        debt = max(seconds, self.floor_s) / self.share
        self._paid_at[client] = min(max(self._paid_at.get(client, now), now) + debt, now + self.max_debt_s)
