"""Plain ASGI middlewares (cheap, and they see every request): ``Guard`` (refusal pacing, API key, media type,
body size and body timeout for ``/v1/*``, before the body is parsed), ``Measure`` (request metrics), and the CORS
middleware whose refused preflight is JSON; and the API key's check at startup."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

from .errors import error_response
from .metrics import Metrics
from .pacing import RefusalPacer

if TYPE_CHECKING:  # pragma: no cover
    from starlette.middleware.cors import CORSMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def client_id(scope: Scope) -> str | None:
    """Who sent a request, for fair sharing and pacing: its remote address (uvicorn rewrites it from
    ``X-Forwarded-For`` only for the proxies given in ``--forwarded-allow-ips``, loopback by default)."""
    client = scope.get("client")
    return client[0] if client else None


def check_api_key(api_key: str | None) -> None:
    """Refuse, before anything is loaded, a key that some HTTP clients could not send as the server reads it.

    Header values travel as bytes, and clients disagree on how to encode other characters: curl sends the
    shell's UTF-8, browsers (the demo page) and Python's http.client/requests send latin-1 or refuse, httpx
    refuses. A key with such characters would work from some clients and be "wrong" from others, so only
    printable ASCII without spaces is accepted (spaces at either end are dropped by HTTP itself).
    """
    if api_key is None:
        return
    bad = next((c for c in api_key if not "!" <= c <= "~"), None) if api_key else ""
    if bad is not None:
        what = "is empty" if not api_key else f"contains {bad!r} (U+{ord(bad):04X})"
        raise ValueError(
            f"the API key {what}: use printable ASCII without spaces (letters, digits, punctuation), which every "
            "HTTP client sends the same way; e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


class _StatusRecorder:
    """A ``send`` that passes every message on and notes the response status and the time since it was made.

    Both middlewares act on how a request ended (refusal pacing, metrics), even when the app raised: they read
    ``status`` (the default they gave until a response starts) and ``seconds()`` in a ``finally``.
    """

    def __init__(self, send: Send, status: int):
        self.send, self.status, self.started = send, status, time.perf_counter()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)

    def seconds(self) -> float:
        """Seconds since this recorder was made (the request's start, for the middleware that made it)."""
        return time.perf_counter() - self.started


class Guard:
    """Pacing, API key and body size for ``/v1/*``, checked before the body is parsed (or even fully received).

    A client whose requests were refused waits (``RefusalPacer``) before this request's body is even read; one
    that is too deep in debt gets a 429 without it being read. Every refusal is charged to its client.
    """

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        max_body_bytes: int,
        body_timeout: float = 30.0,
        pacer: RefusalPacer | None = None,
    ):
        self.app, self.api_key, self.max_body_bytes, self.body_timeout = app, api_key, max_body_bytes, body_timeout
        self.pacer = pacer or RefusalPacer(1.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        client = client_id(scope)
        wait = self.pacer.wait_s(client)
        if wait > 0:
            await asyncio.sleep(min(wait, self.pacer.max_wait_s))
            if wait > self.pacer.max_wait_s:
                retry = self.pacer.wait_s(client)
                message = f"too many refused requests from this client; retry in {retry:.1f} s"
                await error_response(429, "too_many_refusals", message, retry_after=retry)(scope, receive, send)
                return
        recorder = _StatusRecorder(send, status=0)
        try:
            await self._guarded(scope, receive, recorder)
        finally:
            if RefusalPacer.refused(recorder.status):
                self.pacer.charge(client, recorder.seconds())

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key is not None and not self._authorized(headers):
            await error_response(
                401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            )(scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT") and not _is_json(headers.get("content-type", "")):
            message = "send the body as JSON with 'Content-Type: application/json'"
            await error_response(415, "unsupported_media_type", message)(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.body_timeout)
        except TimeoutError:
            message = f"the request body did not arrive within {self.body_timeout:g} s"
            await error_response(408, "body_timeout", message, self.body_timeout)(scope, receive, send)
            return
        if body is None:
            await self._too_large(scope, receive, send)
            return
        await self.app(_as_json(scope), _replay(body, receive), send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        return self.authorized(headers, self.api_key)  # type: ignore[arg-type]

    @staticmethod
    def authorized(headers: Any, api_key: str) -> bool:
        """Constant-time comparison of the header's bytes with the key (printable ASCII, ``check_api_key``)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        offered = token.strip() if scheme.lower() == "bearer" else headers.get("x-api-key", "")
        return bool(offered) and hmac.compare_digest(_header_bytes(offered), api_key.encode("ascii"))

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit (chunked uploads have no length)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body is larger than {self.max_body_bytes} bytes"
        await error_response(413, "body_too_large", message, self.max_body_bytes)(scope, receive, send)


def _is_json(content_type: str) -> bool:
    """``application/json`` (any parameters) or ``application/*+json``: what a cross-site form cannot send
    without a CORS preflight, so a page on another site cannot fire requests at a local server."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _header_bytes(value: str) -> bytes:
    """A header value back to the bytes that were sent (the server decodes headers as latin-1; anything else,
    e.g. from a test client, as UTF-8): non-ASCII bytes then never match an ASCII key."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _as_json(scope: Scope) -> Scope:
    """Make FastAPI parse the body as JSON for ``application/*+json`` types too (the media type was checked)."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the app the body already read, then pass on the real channel (e.g. a client disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def json_cors() -> type[CORSMiddleware]:
    from starlette.middleware.cors import CORSMiddleware

    class JsonCORS(CORSMiddleware):
        """Starlette's CORS middleware, whose refused preflight (plain text) is the common JSON error body."""

        def preflight_response(self, request_headers: Any) -> Response:
            response = super().preflight_response(request_headers)
            if response.status_code != 400:
                return response
            reason = bytes(response.body).decode("utf-8", "replace")
            return error_response(400, "cors_refused", f"CORS preflight refused: {reason}")

    return JsonCORS


class Measure:
    """Request count by path and status, and latency, for every HTTP request (errors included)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorder = _StatusRecorder(send, status=500)
        try:
            await self.app(scope, receive, recorder)
        finally:
            self.metrics.observe_request(scope["path"], recorder.status, recorder.seconds())
