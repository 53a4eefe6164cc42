"""The FastAPI application behind ``uniclass serve``.

``POST /v1/classify`` answers ``{"results": ...}`` exactly as ``Classifier.classify`` would for the same list
of texts; concurrent requests are merged into shared model calls by ``MicroBatcher``. Every error, whatever
produced it (a limit, malformed JSON, a wrong type, a label the classifier rejects, a missing key), has the
same body ``{"error": {"code", "message", ...}}`` so clients need one error path, and none of them can stop
the server. ``/healthz``, ``/metrics`` (Prometheus), ``/openapi.json`` and the demo page ``/`` stay open
when an API key is set; ``/v1/*`` then needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Example:
    >>> app = create_app("path/to/checkpoint", max_texts=32, api_key="secret")  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .batcher import Job, MicroBatcher, Overloaded
from .limits import Limits
from .metrics import Metrics

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

logger = logging.getLogger("uniclass.serve")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ====================================================================== request and response bodies
class FewShotExample(BaseModel):
    """A labelled example shown to the model before the text (few-shot, official layout)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str
    labels: list[str]


class ClassifyRequest(BaseModel):
    """Arguments of ``Classifier.classify`` for a list of texts. Strict types: ``"0.5"`` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(description="texts to classify")
    labels: list[str] | list[list[str]] = Field(description="labels shared by all texts, or one label list per text")
    multi_label: bool = Field(True, description="sigmoid per label (True) or softmax over the labels (False)")
    threshold: float | dict[str, float] | None = Field(
        None, description="multi-label threshold, or per label; default: the model's fitted thresholds, else 0.5"
    )
    top_k: int | None = Field(None, description="keep at most K labels per text")
    prompt: str | None = Field(None, description="task description placed before each text")
    examples: list[FewShotExample] | None = Field(None, description="few-shot examples shown with every text")


class LabelScore(BaseModel):
    label: str
    score: float


class ClassifyResponse(BaseModel):
    results: list[list[LabelScore]] = Field(description="per text, its labels sorted by score, highest first")


class ErrorDetail(BaseModel):
    code: str
    message: str
    limit: float | None = None
    fields: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error answered with the common error body; ``limit`` names the value a request went over."""

    def __init__(self, status: int, code: str, message: str, limit: float | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.limit = status, code, message, limit


def error_response(status: int, code: str, message: str, limit: float | None = None, **extra: Any) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        detail["limit"] = limit
    detail.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


# ====================================================================== the application
def create_app(
    model: Any,
    *,
    limits: Limits | None = None,
    api_key: str | None = None,
    device: str = "auto",
    max_length: int | None = None,
    batch_size: int = 32,
    model_name: str | None = None,
    load_options: dict[str, Any] | None = None,
    **limit_overrides: Any,
) -> FastAPI:
    """The service for ``model``: a ``Classifier``, or a checkpoint folder / hub id loaded now.

    ``load_options`` go to ``Classifier.from_pretrained`` (``backend="onnx"``, ``quantized``, ``num_threads``).
    ``limit_overrides`` are ``Limits`` fields (``max_texts=32``, ``max_wait_ms=5``, ...) applied over ``limits``.
    """
    limits = dataclasses.replace(limits or Limits(), **limit_overrides)
    clf, name = _load(model, device=device, max_length=max_length, model_name=model_name, **(load_options or {}))
    metrics = Metrics()
    classify = functools.partial(clf.classify, batch_size=batch_size, show_progress=False)
    batcher = MicroBatcher(
        classify, max_batch_texts=limits.max_batch_texts, max_wait_ms=limits.max_wait_ms,
        max_queue_texts=limits.max_queue_texts, on_batch=metrics.observe_batch,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="uniclass",
        version=__version__,
        description="Zero-shot text classification with a GLiClass model. Errors: {\"error\": {\"code\", \"message\"}}.",
        lifespan=lifespan,
    )
    app.state.classifier, app.state.limits, app.state.metrics, app.state.batcher = clf, limits, metrics, batcher
    _add_error_handlers(app)
    _add_routes(app, clf, name, limits, metrics, batcher, api_key)
    app.add_middleware(_Guard, api_key=api_key, max_body_bytes=limits.max_body_bytes)
    app.add_middleware(_Measure, metrics=metrics)
    return app


def _load(model: Any, *, device: str, max_length: int | None, model_name: str | None,
          **load_options: Any) -> tuple[Any, str]:
    from ..classifier import Classifier

    if isinstance(model, Classifier):
        return model, model_name or str(model.config.extra.get("_name_or_path", "in-memory"))
    if model is not None and not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a Classifier, a checkpoint folder or a hub id, got {type(model).__name__}")
    # None: the bundled model
    clf = Classifier.from_pretrained(model, device=device, max_length=max_length, **load_options)
    return clf, model_name or str(model or "uniclass-minilm (bundled)")


def _add_routes(
    app: FastAPI, clf: Classifier, name: str, limits: Limits, metrics: Metrics, batcher: MicroBatcher, api_key: str | None
) -> None:
    default_threshold = _default_threshold(clf)
    page = resources.files("uniclass.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    # Declared for the OpenAPI schema only (the "Authorize" button of /docs); _Guard enforces the key.
    security = [HTTPBearer(auto_error=False), APIKeyHeader(name="X-API-Key", auto_error=False)] if api_key else []
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 413, 422, 503)
    }

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=errors, dependencies=[Security(s) for s in security])
    async def classify(body: ClassifyRequest) -> Response:
        """Classify texts; concurrent requests are merged into shared model calls."""
        job = _prepare_job(body, limits, default_threshold)
        if not job.texts:
            return JSONResponse({"results": []})
        try:
            results = await batcher.submit(job)
        except Overloaded as err:
            raise ApiError(503, "overloaded", str(err), err.limit) from None
        except (ValueError, TypeError) as err:
            raise ApiError(422, "invalid_input", str(err)) from None
        return JSONResponse({"results": results})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness and what is being served; never needs the API key."""
        return {
            "status": "ok",
            "model": name,
            "architecture": clf.config.architecture_type,
            "max_length": clf.max_length,
            "device": str(clf.device),
            "uniclass": __version__,
            "auth": api_key is not None,
            "limits": dataclasses.asdict(limits),
            "queue_texts": batcher.pending_texts,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        metrics.queue_texts.set(batcher.pending_texts)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)


def _default_threshold(clf: Classifier) -> float | dict[str, float]:
    """What ``classify`` uses for ``threshold=None``: fitted per-label thresholds, else 0.5 (resolved once,
    because merged calls pass one threshold per text and cannot carry ``None``)."""
    from ..postprocessing import resolve_threshold

    return resolve_threshold(None, clf.calibration)


def _prepare_job(body: ClassifyRequest, limits: Limits, default_threshold: float | dict[str, float]) -> Job:
    """Check the limits, then validate exactly as ``classify`` would, so a bad request fails alone (422)
    instead of failing the batch it would have joined."""
    from ..postprocessing import check_top_k, normalize_thresholds
    from ..processing import normalize_request

    texts = body.texts
    if len(texts) > limits.max_texts:
        raise ApiError(422, "too_many_texts", f"{len(texts)} texts in one request; the limit is {limits.max_texts}", limits.max_texts)
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(422, "text_too_long", f"texts[{i}] has {len(text)} characters; the limit is {limits.max_chars}", limits.max_chars)
    per_text = bool(body.labels) and isinstance(body.labels[0], list)
    for i, labels in enumerate(body.labels if per_text else [body.labels]):
        if len(labels) > limits.max_labels:
            where = f"labels[{i}]" if per_text else "labels"
            raise ApiError(422, "too_many_labels", f"{where} has {len(labels)} labels; the limit is {limits.max_labels}", limits.max_labels)
    examples = [e.model_dump() for e in body.examples] if body.examples else None
    threshold = default_threshold if body.threshold is None else body.threshold
    try:
        request = normalize_request(texts, body.labels, multi_label=body.multi_label, prompt=body.prompt, examples=examples)
        normalize_thresholds(threshold, len(texts))
        check_top_k(body.top_k)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    return Job(list(texts), request.labels, body.multi_label, threshold, body.top_k, body.prompt, examples)


# ====================================================================== errors
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.code, err.message, err.limit)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:
            where = broken.get("loc", ("body", "?"))[-1]
            reason = (broken.get("ctx") or {}).get("error", "JSON decode error")
            return error_response(422, "invalid_json", f"the body is not valid JSON (at character {where}: {reason})")
        problems = [{"field": ".".join(str(part) for part in e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
                    for e in errors]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]) or "invalid request"
        return error_response(422, "invalid_request", message, fields=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", f"{type(err).__name__}: {err}")


# ====================================================================== middleware (plain ASGI: cheap, and sees every request)
class _Guard:
    """API key and body size for ``/v1/*``, checked before the body is parsed (or even fully received)."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int):
        self.app, self.api_key, self.max_body_bytes = app, api_key, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key is not None and not self._authorized(headers):
            await error_response(401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        await self.app(_as_json(scope), _replay(body, receive), send)

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        offered = token.strip() if scheme.lower() == "bearer" else headers.get("x-api-key", "")
        return bool(offered) and hmac.compare_digest(offered.encode(), self.api_key.encode())  # type: ignore[union-attr]

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


def _as_json(scope: Scope) -> Scope:
    """Read /v1 bodies as JSON whatever the Content-Type says: ``curl -d`` sends a form type by default, and
    failing such a request with 'expected an object' would hide the real mistake."""
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


class _Measure:
    """Request count by path and status, and latency, for every HTTP request (errors included)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - started)
