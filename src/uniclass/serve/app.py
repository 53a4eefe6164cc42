"""The FastAPI application behind ``uniclass serve``.

``POST /v1/classify`` answers ``{"results": ...}`` exactly as ``Classifier.classify`` would for the same list
of texts; concurrent requests are merged into shared model calls by ``MicroBatcher``. ``POST /v1/explain``
answers ``Classifier.explain`` (occlusion per sentence or chunk) under the same limits, queue and work budget. Every error, whatever
produced it (a limit, malformed JSON, a wrong type, a label the classifier rejects, a missing key), has the
same body ``{"error": {"code", "message", ...}}`` so clients need one error path, and none of them can stop
the server. ``/healthz``, ``/metrics`` (Prometheus), ``/openapi.json`` and the demo page ``/`` stay open
when an API key is set; ``/v1/*`` then needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Clients (remote addresses) share the model fairly: the batcher's ``FairQueue`` gives each one turn per model
call, and ``RefusalPacer`` makes a client whose requests keep being refused wait before its next one is read,
so neither valid heavy work nor a stream of bad requests takes the service from everyone else.

Example:
    >>> app = create_app("path/to/checkpoint", max_texts=32, api_key="secret")  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..explanation import DEFAULT_CHUNK_TOKENS, DEFAULT_MAX_UNITS, MAX_UNITS_LIMIT
from .batcher import Job, MicroBatcher, Overloaded, ShuttingDown
from .limits import Limits
from .metrics import Metrics
from .pacing import RefusalPacer
from .planning import DeadlinePassed, Planner
from .work import TooMuchWork, label_prompt_tokens, prior_label_tokens, prior_text_tokens, retrieval_tokens

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
    labels: list[str] | list[list[str]] | dict[str, Any] | None = Field(
        None, description="labels shared by all texts, or one label list per text, or a label tree shared by all "
        "texts: a JSON object mapping parents to children ({\"product\": [\"battery\", \"screen\"], \"news\": "
        "null}; null: a label without children), scored as its 'parent.child' labels (or give label_set)")
    label_set: str | None = Field(None, description="name of a label set registered with PUT /v1/label-sets/{name}")
    shortlist: int | Literal["auto"] | None = Field(
        None, description="score only the k labels nearest each text ('auto': the label set's k); default with "
        "label_set: 'auto'")
    multi_label: bool = Field(True, description="sigmoid per label (True) or softmax over the labels (False)")
    threshold: float | dict[str, float] | None = Field(
        None, description="multi-label threshold, or per label; default: the model's fitted thresholds, else 0.5"
    )
    top_k: int | None = Field(None, description="keep at most K labels per text")
    prompt: str | None = Field(None, description="task description placed before each text")
    examples: list[FewShotExample] | None = Field(None, description="few-shot examples shown with every text")
    abstain: float | None = Field(
        None, description="score floor: no label below it is returned, in either mode; [] means 'none of these'"
    )
    groups: list[list[str]] | None = Field(None, description="exclusive label groups: exactly one label of each, the best")
    min_labels: int = Field(0, description="return at least this many labels per text (never below abstain)")
    max_labels: int | None = Field(None, description="return at most this many labels per text")
    hierarchy: bool = Field(False, description="with tree labels: a returned child brings its parents, each scored "
                            "with the best score below it (so never below a child)")
    as_tree: bool = Field(False, description="with tree labels: answer per text a tree {name: {score, children}} "
                          "instead of a list (implies hierarchy)")
    label_order: Literal["given", "stable", "positions", "permutations"] = Field(
        "given", description="'stable': scores that do not depend on the order of the labels"
    )
    permutations: int | None = Field(None, description="orders averaged with label_order 'permutations' (default 4)")


class LabelScore(BaseModel):
    label: str
    score: float


class TreeNode(BaseModel):
    score: float
    children: dict[str, TreeNode] | None = Field(None, description="absent for a label without children")


class ClassifyResponse(BaseModel):
    results: list[list[LabelScore]] | list[dict[str, TreeNode]] = Field(
        description="per text, its labels sorted by score, highest first (as_tree: the kept labels as a tree)")


class ExplainRequest(BaseModel):
    """Arguments of ``Classifier.explain``: which units of each text moved each label's score (occlusion)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(description="texts to explain")
    labels: list[str] | list[list[str]] = Field(description="labels shared by all texts, or one label list per text")
    multi_label: bool = Field(True, description="sigmoid per label (True) or softmax over the labels (False)")
    unit: Literal["sentence", "chunk"] = Field(
        "sentence", description="sentences (a regex splitter), or runs of about chunk_tokens tokens (texts without punctuation)"
    )
    max_units: int = Field(DEFAULT_MAX_UNITS, ge=1, le=MAX_UNITS_LIMIT,
                           description="at most this many units per text: more sentences or chunks are grouped into runs")
    chunk_tokens: int = Field(DEFAULT_CHUNK_TOKENS, ge=1, le=4096, description="tokens per chunk (unit='chunk')")
    prompt: str | None = Field(None, description="task description placed before each text")
    examples: list[FewShotExample] | None = Field(None, description="few-shot examples shown with every text")


class ExplainedUnit(BaseModel):
    text: str
    start: int = Field(description="first character of the unit in the text (Unicode code points)")
    end: int = Field(description="one past its last character")


class LabelEffect(BaseModel):
    label: str
    score: float = Field(description="the label's score for the whole text")
    deltas: list[float] = Field(description="per unit: score(text) - score(text without the unit); > 0 raises the score")


class ExplanationBody(BaseModel):
    text: str
    multi_label: bool
    unit: str
    seen_chars: int = Field(description="characters the model reads (less than the text when it was truncated)")
    pieces: int = Field(description="sentences or chunks found; more than len(units) when runs were grouped")
    units: list[ExplainedUnit]
    labels: list[LabelEffect]


class ExplainResponse(BaseModel):
    results: list[ExplanationBody] = Field(description="one explanation per text, in order")


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


def error_response(status: int, code: str, message: str, limit: float | None = None, *,
                   retry_after: float = 1.0, **extra: Any) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        detail["limit"] = limit
    detail.update(extra)
    headers = ({"WWW-Authenticate": "Bearer"} if status == 401
               else {"Retry-After": str(max(1, math.ceil(retry_after)))} if status in (429, 503) else None)
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
    cors_origins: list[str] | None = None,
    label_sets: dict[str, list[str]] | None = None,
    **limit_overrides: Any,
) -> FastAPI:
    """The service for ``model``: a ``Classifier``, or a checkpoint folder / hub id loaded now.

    CORS is off unless ``cors_origins`` lists the origins (``["*"]`` for any) whose pages may call the API;
    with /v1 requiring ``Content-Type: application/json``, other sites' pages cannot send requests at all.

    ``load_options`` go to ``Classifier.from_pretrained`` (``backend="onnx"``, ``quantized``, ``num_threads``).
    ``limit_overrides`` are ``Limits`` fields (``max_texts=32``, ``max_wait_ms=5``, ...) applied over ``limits``.
    ``label_sets`` registers named label sets now (``PUT /v1/label-sets/{name}`` registers more while serving):
    requests name one (``"label_set"``) instead of sending its labels, and only its shortlist is scored.
    """
    limits = dataclasses.replace(limits or Limits(), **limit_overrides)
    check_api_key(api_key)
    clf, name = _load(model, device=device, max_length=max_length, model_name=model_name, **(load_options or {}))
    metrics = Metrics()
    classify = functools.partial(clf.classify, batch_size=batch_size, show_progress=False)
    batcher = MicroBatcher(
        classify, max_batch_texts=limits.max_batch_texts, max_batch_work=limits.max_batch_tokens,
        max_wait_ms=limits.max_wait_ms, max_queue_texts=limits.max_queue_texts, max_queue_work=limits.max_queue_tokens,
        quantum=limits.client_quantum_tokens, presence_s=limits.client_presence_s, on_batch=metrics.observe_batch,
    )

    planner = Planner(threads=limits.planning_threads, max_pending=limits.max_planning)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        planner.start()
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            planner.stop()

    app = _fastapi(
        title="uniclass",
        version=__version__,
        description="Zero-shot text classification with a GLiClass model. Errors: {\"error\": {\"code\", \"message\"}}.",
        lifespan=lifespan,
    )
    app.state.classifier, app.state.limits, app.state.metrics, app.state.batcher = clf, limits, metrics, batcher
    app.state.planner = planner
    app.state.label_sets = {name: clf.label_index(_check_label_set(name, labels, limits))
                            for name, labels in (label_sets or {}).items()}
    _add_error_handlers(app)
    _add_routes(app, clf, name, limits, metrics, batcher, api_key, planner)
    _add_explain_route(app, clf, limits, batcher, api_key, batch_size, planner)
    app.add_middleware(_Guard, api_key=api_key, max_body_bytes=limits.max_body_bytes, body_timeout=limits.body_timeout_s,
                       pacer=RefusalPacer(limits.refusal_share))
    if cors_origins:
        app.add_middleware(_json_cors(), allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(_Measure, metrics=metrics)
    return app


def _fastapi(**options: Any) -> FastAPI:
    """The FastAPI app, with /docs and /redoc served from the installed fastapi-offline package's Swagger UI and
    ReDoc assets instead of a CDN, so the API docs work on a machine without internet access."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # pragma: no cover - part of the serve extra; without it the docs pages load from a CDN
        logger.warning("fastapi-offline is not installed: /docs loads Swagger UI from a CDN (pip install 'uniclass[serve]')")
        return FastAPI(**options)
    return FastAPIOffline(**options)


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
    app: FastAPI, clf: Classifier, name: str, limits: Limits, metrics: Metrics, batcher: MicroBatcher, api_key: str | None,
    planner: Planner,
) -> None:
    default_threshold = _default_threshold(clf)
    page = resources.files("uniclass.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    # Declared for the OpenAPI schema only (the "Authorize" button of /docs); _Guard enforces the key.
    security = [HTTPBearer(auto_error=False), APIKeyHeader(name="X-API-Key", auto_error=False)] if api_key else []
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 503)
    }

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=errors, dependencies=[Security(s) for s in security])
    async def classify(body: ClassifyRequest, request: Request) -> Response:
        """Classify texts; concurrent requests are merged into shared model calls."""
        turn = _Turn(batcher, planner, request, limits)
        labels, retrieval = await _resolve_labels(body, app.state.label_sets, clf, limits, turn)
        job, normalized = _prepare_job(body, limits, default_threshold, labels)
        if not job.texts:
            return JSONResponse({"results": []})
        passes = _passes(clf, job.options)  # label_order permutations: every window runs that many times
        try:
            job.text_work = await turn.plan(_plan_request, clf, normalized, limits.max_work_tokens - retrieval, passes)
        except TooMuchWork as err:
            err.counted += retrieval
            raise ApiError(413, "too_much_work", f"this request needs {err.describe()} encoder tokens (texts x label "
                           "groups x window, the prior's text and new label embeddings, shortlisting); the limit is "
                           f"{limits.max_work_tokens}: send fewer texts or labels, or shorter ones",
                           limits.max_work_tokens) from None
        job.work = sum(job.text_work)
        return JSONResponse({"results": await turn.submit(job)})

    @app.put("/v1/label-sets/{name}", responses=errors, dependencies=[Security(s) for s in security])
    async def put_label_set(name: str, labels: list[str], request: Request) -> dict[str, Any]:
        """Register (or replace) a named label set; its retriever vectors are computed now, in slices through the
        fair queue (an upload shares the model like any request), within ``max_label_set_tokens`` of work."""
        turn = _Turn(batcher, planner, request, limits)
        checked = _check_label_set(name, labels, limits)
        if name not in app.state.label_sets and len(app.state.label_sets) >= limits.max_label_sets:
            raise ApiError(422, "too_many_label_sets", f"{len(app.state.label_sets)} label sets are registered; the "
                           f"limit is {limits.max_label_sets}", limits.max_label_sets)
        index = await _build_label_index(clf, checked, name, turn)
        app.state.label_sets[name] = index
        return _describe(name, index)

    @app.get("/v1/label-sets", dependencies=[Security(s) for s in security])
    async def list_label_sets() -> dict[str, Any]:
        """The registered label sets: name, size and the k that shortlist='auto' uses."""
        return {"label_sets": [_describe(n, index) for n, index in app.state.label_sets.items()]}

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness and what is being served; never needs the API key (the model's name, a path perhaps, does)."""
        shown = api_key is None or _Guard.authorized(request.headers, api_key)
        return {
            "status": "ok",
            **({"model": name} if shown else {}),
            "architecture": clf.config.architecture_type,
            "max_length": clf.max_length,
            "device": str(clf.device),
            "uniclass": __version__,
            "auth": api_key is not None,
            "limits": dataclasses.asdict(limits),
            "queue_texts": batcher.pending_texts,
            "queue_tokens": batcher.pending_work,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        metrics.queue_texts.set(batcher.pending_texts)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)


def _add_explain_route(
    app: FastAPI, clf: Classifier, limits: Limits, batcher: MicroBatcher, api_key: str | None, batch_size: int,
    planner: Planner,
) -> None:
    """``POST /v1/explain``: the limits of ``/v1/classify``, and every occluded variant counted as work."""
    security = [HTTPBearer(auto_error=False), APIKeyHeader(name="X-API-Key", auto_error=False)] if api_key else []
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 422, 503)}

    @app.post("/v1/explain", response_model=ExplainResponse, responses=errors, dependencies=[Security(s) for s in security])
    async def explain(body: ExplainRequest, request: Request) -> Response:
        """Which sentences (or token chunks) of each text raised or lowered each label's score.

        Occlusion: each unit is removed in turn and the text scored again, so a text costs its units + 1
        scorings (all counted against the work budget, ``max_work_tokens``). Same limits and errors as
        ``/v1/classify``; the answer is ``Classifier.explain(...).to_dict()`` per text.
        """
        turn = _Turn(batcher, planner, request, limits)
        as_classify = ClassifyRequest(texts=body.texts, labels=body.labels, multi_label=body.multi_label,
                                      prompt=body.prompt, examples=body.examples)
        _, normalized = _prepare_job(as_classify, limits, 0.5)  # the same limits and validation as classify
        if not body.texts:
            return JSONResponse({"results": []})
        try:
            work = await turn.plan(_plan_explanation, clf, normalized, body, limits.max_work_tokens)
        except TooMuchWork as err:
            raise ApiError(413, "too_much_work", f"explaining this request needs {err.describe()} encoder tokens (each "
                           "text is scored whole and once without each of its units, by the model and its prior); the "
                           f"limit is {limits.max_work_tokens}: send fewer or shorter texts, or a smaller max_units",
                           limits.max_work_tokens) from None
        examples = [e.model_dump() for e in body.examples] if body.examples else None
        call = functools.partial(_explain_texts, clf, body, examples, batch_size)
        # one unit of the fair queue (never sliced), costing every occluded variant's tokens, charged to this client
        job = Job(["explain"], [[]], body.multi_label, 0.5, work=work, call=call)
        return JSONResponse({"results": await turn.submit(job)})


def _plan_explanation(clf: Any, normalized: Any, body: ExplainRequest, budget: int) -> int:
    """Encoder tokens of an explanation: every occluded variant through the model and the prior (a thread)."""
    from ..explanation import ExplainOptions, expand_request, plan_explanations
    from ..processing import WindowPolicy

    options = ExplainOptions(body.unit, body.max_units, body.chunk_tokens)
    plans = plan_explanations(clf.engine, normalized, WindowPolicy(clf.max_length), options)
    work = sum(plan.work for plan in plans)
    if work > budget:
        raise TooMuchWork(work, exact=True)
    expanded = expand_request(normalized, plans)
    work += sum(prior_text_tokens(clf, expanded.texts, budget, work))
    return work + prior_label_tokens(clf, [label for labels in normalized.labels for label in labels], budget, work)


@dataclasses.dataclass
class _Turn:
    """One request's way through the server: its client, its deadline (from its arrival: planning counts), and
    the planner and queue it uses, with their errors mapped to API errors."""

    batcher: MicroBatcher
    planner: Planner
    request: Request
    limits: Limits
    client: str | None = None
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.client = client_id(self.request.scope)
        self.deadline = asyncio.get_running_loop().time() + self.limits.request_timeout_s

    async def plan(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the planning executor; ``ValueError``/``TypeError`` are the request's fault (422)."""
        try:
            return await self.planner.run(fn, *args, deadline=self.deadline, expired=self.batcher.until_expired,
                                          client=self.client)
        except (ValueError, TypeError) as err:
            raise ApiError(422, "invalid_input", str(err)) from None
        except (DeadlinePassed, Overloaded, ShuttingDown) as err:
            raise _mapped(err, self.limits.request_timeout_s) from None

    async def submit(self, job: Job) -> list[Any]:
        """The job's results from the fair queue, charged to this client, within what is left of the deadline."""
        job.client = self.client
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise _mapped(DeadlinePassed(), self.limits.request_timeout_s)
        return await _submit_mapped(self.batcher, job, self.request, remaining, self.limits.request_timeout_s)


def _mapped(err: Exception, timeout: float) -> ApiError:
    if isinstance(err, Overloaded):
        return ApiError(503, "overloaded", str(err), err.limit)
    if isinstance(err, ShuttingDown):
        return ApiError(503, "shutting_down", str(err))
    return ApiError(504, "timeout", f"the request was not answered within {timeout:g} s", timeout)


async def _build_label_index(clf: Any, labels: list[str], name: str, turn: _Turn) -> Any:
    """A label set's ``LabelIndex``: its work counted first (413 over ``max_label_set_tokens``), then its labels
    encoded in slices through the fair queue, so an upload takes turns with everyone else's requests."""
    import numpy as np

    from ..shortlist import LabelIndex

    limit = turn.limits.max_label_set_tokens
    try:  # the encoder is made on the planning thread too: the first one loads a model (seconds)
        encoder, costs = await turn.plan(_upload_plan, clf, labels, limit)
    except TooMuchWork as err:
        raise ApiError(413, "too_much_work", f"label set {name!r} needs {err.describe()} encoder tokens to embed its "
                       f"labels; the limit for an upload is {limit}: send fewer or shorter labels, or register it at "
                       "startup (uniclass serve --label-set NAME=FILE)", limit) from None
    job = Job(list(labels), [[] for _ in labels], True, 0.5, work=sum(costs), text_work=list(costs),
              slices=functools.partial(_encode_labels, encoder, labels))
    vectors = await turn.submit(job)
    return LabelIndex(labels, np.stack(vectors), encoder.name, encoder=encoder)


def _upload_plan(clf: Any, labels: list[str], limit: int) -> tuple[Any, list[int]]:
    """The retriever an upload is encoded with, and each label's tokens (``TooMuchWork`` over ``limit``)."""
    encoder = clf.label_encoder()
    return encoder, label_prompt_tokens(encoder, labels, limit)


def _encode_labels(encoder: Any, labels: list[str], start: int, stop: int) -> list[Any]:
    """Vectors of ``labels[start:stop]`` (one slice of an upload, on the model thread)."""
    return list(encoder.encode_labels(labels[start:stop]))


def _explain_texts(clf: Any, body: ExplainRequest, examples: list[dict[str, Any]] | None, batch_size: int) -> list[Any]:
    """The explanations of one request as JSON (runs on the batcher's worker thread)."""
    explanations = clf.explain(
        list(body.texts), body.labels, unit=body.unit, max_units=body.max_units, chunk_tokens=body.chunk_tokens,
        multi_label=body.multi_label, prompt=body.prompt, examples=examples, batch_size=batch_size, show_progress=False,
    )
    return [e.to_dict() for e in explanations]


async def _submit_mapped(batcher: MicroBatcher, job: Job, request: Request, timeout: float,
                         configured: float | None = None) -> list[Any]:
    """``_submit`` with the queue's and the classifier's errors mapped to API errors (503, 422)."""
    try:
        return await _submit(batcher, job, request, timeout, configured)
    except (Overloaded, ShuttingDown) as err:
        raise _mapped(err, timeout) from None
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None


def _default_threshold(clf: Classifier) -> float | dict[str, float]:
    """What ``classify`` uses for ``threshold=None``: fitted per-label thresholds, else 0.5 (resolved once,
    because merged calls pass one threshold per text and cannot carry ``None``)."""
    from ..postprocessing import resolve_threshold

    return resolve_threshold(None, clf.calibration)


async def _submit(batcher: MicroBatcher, job: Job, request: Request, timeout: float,
                  configured: float | None = None) -> list[Any]:
    """The job's results, unless the client hangs up (its work is then dropped) or ``timeout`` passes (504;
    ``configured``: the request timeout the message names, when ``timeout`` is what was left of it)."""
    submitted = asyncio.ensure_future(batcher.submit(job))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({submitted, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if submitted in done:
        return submitted.result()
    submitted.cancel()  # cancels the job's future: the worker skips it before it reaches the model
    if gone in done:
        raise ApiError(499, "client_closed", "the client closed the connection")
    configured = timeout if configured is None else configured
    raise ApiError(504, "timeout", f"the request was not answered within {configured:g} s", configured)


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body was already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _plan_work(clf: Any, request: Any, budget: int) -> list[int]:
    """Encoder tokens each text costs: every window of every label group (linear planning).

    Texts are planned in slices of 1, 2, 4, ... and planning stops as soon as the total is over ``budget``
    (``TooMuchWork``), so refusing a request costs about the budget's worth of planning, never the whole of a
    huge request. Raises ``ValueError`` for inputs that cannot be fitted (a prompt leaving no room), so such a
    request fails alone with a 422 before it is queued (after planning one text), instead of failing the
    merged batch it would join.
    """
    from ..processing import WindowPolicy

    policy = WindowPolicy(clf.max_length)
    work: list[int] = []
    start, size, n = 0, 1, len(request.texts)
    while start < n:
        items = range(start, min(n, start + size))
        for plan in clf.engine.plan(request, policy, items):
            work.append(sum(len(s.input_ids) + len(s.class_input_ids or ()) for s in plan.segments))
        if sum(work) > budget:
            raise TooMuchWork(sum(work), len(work), n)
        start, size = items.stop, size * 2
    return work


def _plan_request(clf: Any, request: Any, budget: int, passes: int = 1) -> list[int]:
    """Per text, every encoder token a classify request costs: the model's windows (``passes`` times under
    label-order averaging), the prior's embedding of the text, and (charged to the first text) the prior's
    embeddings of labels it has not cached (``serve.work``). Raises ``TooMuchWork`` over ``budget``."""
    try:
        work = [w * passes for w in _plan_work(clf, request, budget // passes)]
    except TooMuchWork as err:
        err.counted *= passes
        raise
    total = sum(work)
    work = [w + t for w, t in zip(work, prior_text_tokens(clf, request.texts, budget, total), strict=True)]
    work[0] += prior_label_tokens(clf, [label for labels in request.labels for label in labels], budget, sum(work))
    return work


def client_id(scope: Scope) -> str | None:
    """Who sent a request, for fair sharing and pacing: its remote address (uvicorn rewrites it from
    ``X-Forwarded-For`` only for the proxies given in ``--forwarded-allow-ips``, loopback by default)."""
    client = scope.get("client")
    return client[0] if client else None


def _passes(clf: Any, options: dict[str, Any]) -> int:
    """How many times each window runs: ``permutations`` under label_order averaging, else once."""
    from ..label_order import resolve_label_order

    try:
        order = resolve_label_order(options.get("label_order", "given"), options.get("permutations"), clf.config,
                                    clf.backend.name)
    except ValueError as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    return order.permutations if order.mode == "permutations" else 1


_LABEL_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_label_set(name: str, labels: Any, limits: Limits) -> list[str]:
    """A valid name and a flat list of at most ``max_label_set_labels`` labels of at most ``max_label_chars``."""
    if not isinstance(name, str) or not _LABEL_SET_NAME.fullmatch(name):
        raise ApiError(422, "invalid_input", "a label set name is 1-64 letters, digits, '.', '_' or '-', starting "
                       "with a letter or digit")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ApiError(422, "invalid_input", "a label set is a JSON list of label strings")
    if len(labels) > limits.max_label_set_labels:
        raise ApiError(422, "too_many_labels", f"label set {name!r} has {len(labels)} labels; the limit is "
                       f"{limits.max_label_set_labels}", limits.max_label_set_labels)
    for j, label in enumerate(labels):
        if len(label) > limits.max_label_chars:
            raise ApiError(422, "label_too_long", f"label set {name!r}: labels[{j}] has {len(label)} characters; the "
                           f"limit is {limits.max_label_chars}", limits.max_label_chars)
    from ..shortlist import check_labels

    try:
        return check_labels(labels)  # empty, duplicate, reserved markers: before anything is computed
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", f"label set {name!r}: {err}") from None


def _describe(name: str, index: Any) -> dict[str, Any]:
    from ..shortlist import default_k

    return {"name": name, "labels": len(index), "k": index.k or default_k(len(index)), "retriever": index.retriever}


async def _resolve_labels(body: ClassifyRequest, label_sets: dict[str, Any], clf: Any, limits: Limits,
                          turn: _Turn) -> tuple[Any, int]:
    """The labels of the request (as sent, or per text the shortlist of a label list or a registered label set),
    and the encoder tokens shortlisting cost.

    With a shortlist the model scores ``k`` labels per text, so the request's scoring is planned (and limited by
    ``max_labels`` and the work budget) on those ``k``, not on the whole set. Shortlisting itself (embedding the
    texts, and the labels of a list whose vectors are not cached) is counted and checked against the budget
    before it runs, and runs as one turn of the fair queue charged to the client.
    """
    if (body.labels is None) == (body.label_set is None):  # reported like a schema error, at the field
        missing = body.labels is None
        raise RequestValidationError([{
            "type": "missing" if missing else "value_error", "loc": ("body", "labels" if missing else "label_set"),
            "msg": "Field required (or give label_set)" if missing else "give labels or label_set, not both",
            "input": None,
        }])
    if body.label_set is None:
        if body.shortlist is None:
            return body.labels, 0
        if isinstance(body.labels, dict) or (body.labels and isinstance(body.labels[0], list)):
            raise ApiError(422, "invalid_input", "shortlist needs one flat label list shared by all texts (not a tree)")
        if len(body.labels) > limits.max_labels:  # larger sets are registered once (their vectors are kept)
            raise ApiError(422, "too_many_labels", f"labels has {len(body.labels)} labels; the limit is "
                           f"{limits.max_labels} (register larger sets with PUT /v1/label-sets/{{name}})", limits.max_labels)
        source: Any = body.labels
    else:
        source = label_sets.get(body.label_set)
        if source is None:
            raise ApiError(404, "unknown_label_set", f"no label set named {body.label_set!r} is registered "
                           "(PUT /v1/label-sets/{name} with a JSON list of labels)")
    k = "auto" if body.shortlist is None else body.shortlist
    if k != "auto" and (isinstance(k, bool) or k < 1):
        raise ApiError(422, "invalid_input", f"shortlist must be an int >= 1 or 'auto', got {k!r}")
    if k != "auto" and k > limits.max_labels:
        raise ApiError(422, "too_many_labels", f"shortlist={k} labels per text; the limit is {limits.max_labels}",
                       limits.max_labels)
    if not body.texts:
        return list(getattr(source, "labels", source))[:1], 0  # nothing to shortlist; validated as a plain list
    if len(body.texts) > limits.max_texts:
        raise ApiError(422, "too_many_texts", f"{len(body.texts)} texts in one request; the limit is {limits.max_texts}",
                       limits.max_texts)
    registered = not isinstance(source, list)
    try:
        work = await turn.plan(_retrieval_plan, clf, source if registered else None, list(body.texts),
                               None if registered else list(source), limits.max_work_tokens)
    except TooMuchWork as err:
        raise ApiError(413, "too_much_work", f"shortlisting this request needs {err.describe()} encoder tokens (its "
                       f"texts, and labels not yet embedded); the limit is {limits.max_work_tokens}: send fewer texts "
                       "or labels, or register the labels once with PUT /v1/label-sets/{name}",
                       limits.max_work_tokens) from None
    call = functools.partial(_shortlist, clf, list(body.texts), source, k)
    labels = (await turn.submit(Job(["shortlist"], [[]], True, 0.5, work=work, call=call)))[0]
    return labels, work


def _retrieval_plan(clf: Any, index: Any, texts: list[str], labels: list[str] | None, budget: int) -> int:
    """Encoder tokens of shortlisting (``serve.work.retrieval_tokens``), on a planning thread: making the
    retriever may load a model the first time."""
    encoder = (getattr(index, "encoder", None) if index is not None else None) or clf.label_encoder()
    return retrieval_tokens(clf, encoder, texts, labels, budget)


def _shortlist(clf: Any, texts: list[str], source: Any, k: int | str) -> list[Any]:
    """Per text its shortlisted labels, as the one result of a fair-queue job (runs on the model thread)."""
    return [clf.shortlist_labels(texts, source, k)[0]]


def _prepare_job(body: ClassifyRequest, limits: Limits, default_threshold: float | dict[str, float],
                 labels: Any = None) -> tuple[Job, Any]:
    """Check the limits, then validate exactly as ``classify`` would, so a bad request fails alone (422)
    instead of failing the batch it would have joined. ``labels``: the resolved labels (``_resolve_labels``)."""
    labels = body.labels if labels is None else labels
    from ..postprocessing import check_top_k, normalize_thresholds
    from ..processing import normalize_request

    texts = body.texts
    if len(texts) > limits.max_texts:
        raise ApiError(422, "too_many_texts", f"{len(texts)} texts in one request; the limit is {limits.max_texts}", limits.max_texts)
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(422, "text_too_long", f"texts[{i}] has {len(text)} characters; the limit is {limits.max_chars}", limits.max_chars)
    tree = labels if isinstance(labels, dict) else None
    flat = _flat_tree(tree) if tree is not None else labels  # the limits count a tree's 'parent.child' labels
    per_text = bool(flat) and isinstance(flat[0], list)
    for i, text_labels in enumerate(flat if per_text else [flat]):
        if len(text_labels) > limits.max_labels:
            where = f"labels[{i}]" if per_text else "labels"
            raise ApiError(422, "too_many_labels", f"{where} has {len(text_labels)} labels; the limit is {limits.max_labels}", limits.max_labels)
        for j, label in enumerate(text_labels):
            if len(label) > limits.max_label_chars:
                where = f"labels[{i}][{j}]" if per_text else f"labels[{j}]"
                raise ApiError(422, "label_too_long", f"{where} has {len(label)} characters; the limit is "
                               f"{limits.max_label_chars}", limits.max_label_chars)
    _check_extras(body, limits)
    examples = [e.model_dump() for e in body.examples] if body.examples else None
    threshold = default_threshold if body.threshold is None else body.threshold
    try:
        request = normalize_request(texts, labels, multi_label=body.multi_label, prompt=body.prompt, examples=examples)
        normalize_thresholds(threshold, len(texts))
        check_top_k(body.top_k)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    options = _call_options(body, request)
    # a tree travels with each of its texts, so merged calls with other trees (or flat labels) stay per-text correct
    job_labels = [tree] * len(texts) if tree is not None else request.labels
    job = Job(list(texts), job_labels, body.multi_label, threshold, body.top_k, body.prompt, examples, options=options)
    return job, request


MAX_TREE_DEPTH = 16


def _flat_tree(tree: dict[str, Any]) -> list[str]:
    """A request's label tree as its flat labels, after checking its depth without recursion (so a deeply nested
    body is a 422, never a RecursionError); a wrong shape (a number, a list of lists) is a 422 naming the fault."""
    from ..processing import flatten_label_tree

    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ApiError(422, "invalid_input", f"the label tree is more than {MAX_TREE_DEPTH} levels deep",
                           MAX_TREE_DEPTH)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    try:
        return flatten_label_tree(tree)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", f"labels: {err}") from None


def _call_options(body: ClassifyRequest, request: Any) -> dict[str, Any]:
    """The structured-decision and label-order keywords of the request (only those set), validated now."""
    from ..decisions import check_rules_against, make_rules
    from ..label_order import check_label_order

    options: dict[str, Any] = {}
    for name in ("abstain", "groups", "max_labels", "permutations"):
        if getattr(body, name) is not None:
            options[name] = getattr(body, name)
    if body.min_labels:
        options["min_labels"] = body.min_labels
    if body.label_order != "given":
        options["label_order"] = body.label_order
    if body.hierarchy or body.as_tree:
        options["hierarchy"] = True
    if body.as_tree:
        options["as_tree"] = True
    try:
        check_label_order(body.label_order, body.permutations)
        rules = make_rules(**{k: v for k, v in options.items() if k not in ("label_order", "permutations", "as_tree")})
        for i, labels in enumerate(request.labels):
            tree = request.label_trees[i] if request.label_trees else None
            check_rules_against(rules, labels, tree, "labels" if len(request.labels) == 1 else f"labels of texts[{i}]")
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    return options


def _check_extras(body: ClassifyRequest, limits: Limits) -> None:
    """Limits on what is sent with every text: prompt, few-shot examples, threshold dict."""
    if body.prompt is not None and len(body.prompt) > limits.max_prompt_chars:
        raise ApiError(422, "prompt_too_long", f"prompt has {len(body.prompt)} characters; the limit is "
                       f"{limits.max_prompt_chars}", limits.max_prompt_chars)
    examples = body.examples or []
    if len(examples) > limits.max_examples:
        raise ApiError(422, "too_many_examples", f"{len(examples)} examples; the limit is {limits.max_examples}", limits.max_examples)
    for i, example in enumerate(examples):
        size = len(example.text) + sum(len(label) for label in example.labels)
        if size > limits.max_example_chars:
            raise ApiError(422, "example_too_long", f"examples[{i}] has {size} characters; the limit is "
                           f"{limits.max_example_chars}", limits.max_example_chars)
    if isinstance(body.threshold, dict) and len(body.threshold) > limits.max_threshold_labels:
        raise ApiError(422, "too_many_thresholds", f"threshold has {len(body.threshold)} labels; the limit is "
                       f"{limits.max_threshold_labels}", limits.max_threshold_labels)


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
        unparsed = _unparsed_json(err)
        if unparsed is not None:
            return error_response(422, "invalid_json", f"the body is not valid JSON ({unparsed})")
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", f"{type(err).__name__}: {err}")


def _unparsed_json(err: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a body as JSON, when its generic 400 hides it (the cause is kept): bytes that
    are not UTF-8 (a compressed body, say), nesting deeper than the parser recurses, a number too long to
    convert. None for other errors."""
    cause = err.__cause__
    if err.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        hint = "; a compressed body? send plain JSON" if cause.object[:2] == b"\x1f\x8b" else ""
        return f"at byte {cause.start}: not UTF-8{hint}"
    if isinstance(cause, RecursionError):
        return "it is nested too deeply to parse"
    if isinstance(cause, ValueError):
        return str(cause).split(";")[0]
    return None


# ====================================================================== middleware (plain ASGI: cheap, and sees every request)
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


class _Guard:
    """Pacing, API key and body size for ``/v1/*``, checked before the body is parsed (or even fully received).

    A client whose requests were refused waits (``RefusalPacer``) before this request's body is even read; one
    that is too deep in debt gets a 429 without it being read. Every refusal is charged to its client.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int, body_timeout: float = 30.0,
                 pacer: RefusalPacer | None = None):
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
            await error_response(401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")(scope, receive, send)
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


def _json_cors() -> type:
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


class _Measure:
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
