"""The FastAPI application behind ``uniclass serve``: ``create_app`` loads the model and puts the service together.

The parts, each in its module: ``schemas`` (request and response bodies), ``routes`` (classify, explain, health,
metrics, the demo page), ``label_sets`` (registered label sets), ``errors`` (the one error body and its
handlers), ``middleware`` (API key, body limits and refusal pacing before the body is parsed; metrics; CORS),
``turn`` (one request's way through planning and the fair queue, under its deadline), ``planning`` and
``work`` (the bounded planning executor and the work accounting), ``batcher`` and ``scheduler`` (micro-batching
and fair sharing between clients), ``connections`` and ``server`` (uvicorn: connection limits, shutdown).

Every error, whatever produced it, has the same body ``{"error": {"code", "message", ...}}`` so clients need
one error path, and none of them can stop the server. ``/v1/*`` needs ``Authorization: Bearer KEY`` or
``X-API-Key: KEY`` when an API key is set. A route module adds its routes with ``register(app, service)``
(``turn.Service``: the classifier, limits, queue and planner), so new endpoints plug in the same way.

Clients (remote addresses) share the model fairly: the batcher's ``FairQueue`` gives each one turn per model
call, and ``RefusalPacer`` makes a client whose requests keep being refused wait before its next one is read,
so neither valid heavy work nor a stream of bad requests takes the service from everyone else.

Example:
    >>> app = create_app("path/to/checkpoint", max_texts=32, api_key="secret")  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .. import __version__
from . import label_sets as label_set_routes
from . import routes
from .adapters import DEFAULT_MAX_ADAPTER_MB, DEFAULT_MAX_ADAPTERS, add_adapter_routes, load_startup_adapters
from .batcher import MicroBatcher
from .errors import ApiError, add_error_handlers, error_response
from .hf_inference import add_hf_inference_routes
from .label_sets import check_label_set
from .limits import Limits
from .memory import MemoryTrimmer, malloc_trim_function
from .metrics import Metrics
from .middleware import Guard, Measure, check_api_key, client_id, json_cors
from .pacing import RefusalPacer
from .planning import Planner
from .routes import _prepare_job
from .schemas import ClassifyRequest
from .turn import Service
from .work import plan_classify, plan_windows

logger = logging.getLogger("uniclass.serve")

# names kept for code written against the single-module app
_Guard, _plan_request, _plan_work = Guard, plan_classify, plan_windows
__all__ = [
    "ApiError",
    "ClassifyRequest",
    "Service",
    "_prepare_job",
    "check_api_key",
    "client_id",
    "create_app",
    "error_response",
]


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
    adapters: dict[str, str] | None = None,
    max_adapters: int = DEFAULT_MAX_ADAPTERS,
    max_adapter_mb: float = DEFAULT_MAX_ADAPTER_MB,
    **limit_overrides: Any,
) -> FastAPI:
    """The service for ``model``: a ``Classifier``, or a checkpoint folder / hub id loaded now.

    CORS is off unless ``cors_origins`` lists the origins (``["*"]`` for any) whose pages may call the API;
    with /v1 requiring ``Content-Type: application/json``, other sites' pages cannot send requests at all.

    ``load_options`` go to ``Classifier.from_pretrained`` (``backend="onnx"``, ``quantized``, ``num_threads``).
    ``limit_overrides`` are ``Limits`` fields (``max_texts=32``, ``max_wait_ms=5``, ...) applied over ``limits``.
    ``label_sets`` registers named label sets now (``PUT /v1/label-sets/{name}`` registers more while serving):
    requests name one (``"label_set"``) instead of sending its labels, and only its shortlist is scored.
    ``adapters`` loads LoRA adapters now (name -> PEFT folder); requests choose them with ``"adapter"``
    (``serve.adapters``: at most ``max_adapters``, ``max_adapter_mb`` in all).
    """
    limits = dataclasses.replace(limits or Limits(), **limit_overrides)
    check_api_key(api_key)
    clf, name = _load(model, device=device, max_length=max_length, model_name=model_name, **(load_options or {}))
    metrics = Metrics()
    classify = functools.partial(clf.classify, batch_size=batch_size, show_progress=False)
    batcher = MicroBatcher(
        classify,
        max_batch_texts=limits.max_batch_texts,
        max_batch_work=limits.max_batch_tokens,
        max_wait_ms=limits.max_wait_ms,
        max_queue_texts=limits.max_queue_texts,
        max_queue_work=limits.max_queue_tokens,
        quantum=limits.client_quantum_tokens,
        presence_s=limits.client_presence_s,
        on_batch=metrics.observe_batch,
        trimmer=MemoryTrimmer(limits.idle_trim_s, malloc_trim_function()),
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
        description='Zero-shot text classification with a GLiClass model. Errors: {"error": {"code", "message"}}.',
        lifespan=lifespan,
    )
    app.state.classifier, app.state.limits, app.state.metrics, app.state.batcher = clf, limits, metrics, batcher
    app.state.planner = planner
    app.state.label_sets = {
        name: clf.label_index(check_label_set(name, labels, limits)) for name, labels in (label_sets or {}).items()
    }
    add_error_handlers(app)
    service = Service(clf, name, limits, metrics, batcher, planner, api_key, batch_size)
    app.state.service = service
    for module in (routes, label_set_routes):
        module.register(app, service)
    add_hf_inference_routes(app, api_key)
    load_startup_adapters(clf, adapters, max_adapters, max_adapter_mb)
    add_adapter_routes(app, api_key, max_adapters, max_adapter_mb)
    app.add_middleware(
        Guard,
        api_key=api_key,
        max_body_bytes=limits.max_body_bytes,
        body_timeout=limits.body_timeout_s,
        pacer=RefusalPacer(limits.refusal_share),
    )
    if cors_origins:
        app.add_middleware(
            json_cors(),
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(Measure, metrics=metrics)
    return app


def _fastapi(**options: Any) -> FastAPI:
    """The FastAPI app, with /docs and /redoc served from the installed fastapi-offline package's Swagger UI and
    ReDoc assets instead of a CDN, so the API docs work on a machine without internet access."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # pragma: no cover - part of the serve extra; without it the docs pages load from a CDN
        logger.warning(
            "fastapi-offline is not installed: /docs loads Swagger UI from a CDN (pip install 'uniclass[serve]')"
        )
        return FastAPI(**options)
    return FastAPIOffline(**options)


def _load(
    model: Any, *, device: str, max_length: int | None, model_name: str | None, **load_options: Any
) -> tuple[Any, str]:
    from ..classifier import Classifier

    if isinstance(model, Classifier):
        return model, model_name or str(model.config.extra.get("_name_or_path", "in-memory"))
    if model is not None and not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a Classifier, a checkpoint folder or a hub id, got {type(model).__name__}")
    # None: the bundled model
    clf = Classifier.from_pretrained(model, device=device, max_length=max_length, **load_options)
    return clf, model_name or str(model or "uniclass-minilm (bundled)")
