"""Connection-level protection under uvicorn: per-address and total connection limits, a header-read timeout,
and JSON bodies for the refusals uvicorn itself writes.

uvicorn keeps a connection that never sends a byte open indefinitely, and its ``--limit-concurrency`` counts
every address together: a few hundred idle connections from one address locked everyone else out with a
plain-text 503. ``guarded_protocol`` wraps uvicorn's HTTP protocol class so that

- each remote address may hold ``max_per_client`` connections and the server ``max_total``; a connection over
  either gets a JSON 503 (``too_many_connections``, with ``Retry-After``) and is closed;
- a connection must send a request's headers within ``header_timeout`` seconds of opening and of each
  answered request (keep-alive): an idle one is closed, one that sent part of a request gets a JSON 408;
- a request uvicorn cannot parse (a bad ``Content-Length``, a malformed request line) gets a JSON 400
  instead of uvicorn's plain text.

Example:
    >>> gate = ConnectionGate(max_total=3, max_per_client=2, header_timeout=10.0)
    >>> [gate.admit("10.0.0.1") is None for _ in range(3)]
    [True, True, False]
    >>> gate.admit("10.0.0.2") is None, gate.admit("10.0.0.3") is None
    (True, False)
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections import Counter
from typing import Any

_REASONS = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}


class ConnectionGate:
    """Open connections per remote address and in all; ``admit`` says why a new one is refused, or None."""

    def __init__(self, max_total: int = 256, max_per_client: int = 32, header_timeout: float = 10.0):
        self.max_total, self.max_per_client, self.header_timeout = max_total, max_per_client, header_timeout
        self.open: Counter[str | None] = Counter()

    def admit(self, host: str | None) -> str | None:
        """Count the connection in and return None, or return the reason it is refused (not counted)."""
        if sum(self.open.values()) >= self.max_total:
            return f"the server has {self.max_total} connections open; retry in a moment"
        if self.open[host] >= self.max_per_client:
            return f"this address has {self.max_per_client} connections open; close some or reuse them (keep-alive)"
        self.open[host] += 1
        return None

    def release(self, host: str | None) -> None:
        self.open[host] -= 1
        if self.open[host] <= 0:
            del self.open[host]


def json_response_bytes(status: int, code: str, message: str, limit: float | None = None) -> bytes:
    """A whole HTTP/1.1 response with the service's error body, closing the connection (written raw, before
    or instead of any ASGI request cycle)."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        detail["limit"] = limit
    body = json.dumps({"error": detail}).encode()
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if status == 503:
        head.append("retry-after: 1")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def default_protocol() -> type:
    """uvicorn's HTTP protocol class as ``http="auto"`` picks it: httptools when installed, else h11."""
    try:
        # imported by name only to see whether it is installed (as uvicorn's "auto" does); it has no type stubs
        importlib.import_module("httptools")
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(gate: ConnectionGate, base: type | None = None) -> type:
    """``base`` (uvicorn's protocol class) with ``gate``'s limits and header timeout (module docstring)."""
    base = base or default_protocol()

    class Guarded(base):  # type: ignore[misc,valid-type]
        _gate = gate

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._host = self.client[0] if self.client else None
            self._refusal = self._gate.admit(self._host)
            self._admitted = self._refusal is None
            self._timer: asyncio.TimerHandle | None = None
            self._timed_cycle, self._received = self.cycle, 0
            # a refused connection is answered once its request's headers arrive (or after a second), so the
            # client reads the 503 instead of a reset connection
            self._arm(min(1.0, self._gate.header_timeout) if self._refusal else self._gate.header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if getattr(self, "_admitted", False):
                self._admitted = False
                self._gate.release(self._host)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refusal is not None:
                self._received += len(data)
                if b"\r\n\r\n" in data or self._received > 65_536:
                    self._refuse()
                return
            self._received += len(data)
            super().data_received(data)
            if self.cycle is not self._timed_cycle:
                self._disarm()  # the headers are in: the request's own timeouts (body, deadline) apply now

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._timed_cycle, self._received = self.cycle, 0
                self._arm(self._gate.header_timeout)

        def send_400_response(self, msg: str) -> None:
            self._write_and_close(json_response_bytes(400, "bad_request", f"invalid HTTP request: {msg}"))

        # ---------------------------------------------------------------- helpers
        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._timed_out)

        def _disarm(self) -> None:
            timer = getattr(self, "_timer", None)
            if timer is not None:
                timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._refusal is not None:
                self._refuse()
            elif self.cycle is self._timed_cycle and (self.cycle is None or self.cycle.response_complete):
                # no new request's headers since the timer was armed, and none in progress
                if self._received:
                    message = f"the request headers did not arrive within {self._gate.header_timeout:g} s"
                    self._write_and_close(
                        json_response_bytes(408, "header_timeout", message, self._gate.header_timeout)
                    )
                else:
                    self.transport.close()  # idle: nothing to answer

        def _refuse(self) -> None:
            self._write_and_close(json_response_bytes(503, "too_many_connections", self._refusal or ""))

        def _write_and_close(self, response: bytes) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded
