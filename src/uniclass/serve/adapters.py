"""LoRA adapters in the HTTP service: ``"adapter"`` per request or per text, and the admin routes that manage them.

Requests name a loaded adapter with ``"adapter": "legal"`` (every text) or ``"adapter": ["legal", null, ...]`` (one
per text; null: the base model). Texts with different adapters are merged into the same model calls, like texts
with different labels, and each gets the scores its adapter's merged model gives alone (``modeling.adapters``).

Adapters are loaded at start (``uniclass serve --adapter NAME=PATH``, ``create_app(adapters={...})``) or while
serving by ``PUT /v1/adapters/{name}`` with ``{"path": "/srv/adapters/legal"}``. Loading reads a folder on the
server, so that route needs the API key: a server started without one answers it 403. ``GET /v1/adapters`` lists
them, ``DELETE /v1/adapters/{name}`` unloads one. Limits: ``max_adapters`` loaded at once and ``max_adapter_mb``
of adapter matrices in all (the stacked copies the batched layers hold are counted, not only the files).
Loading and unloading run on the model's thread, between model calls, through the service's queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from .errors import ApiError
from .turn import security_dependencies

DEFAULT_MAX_ADAPTERS = 16
DEFAULT_MAX_ADAPTER_MB = 512.0


class AdapterBody(BaseModel):
    """``PUT /v1/adapters/{name}``: the adapter folder to load, on the server's disk."""

    model_config = ConfigDict(extra="forbid", strict=True)
    path: str = Field(description="a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)")


def request_adapters(adapter: Any, n_texts: int, clf: Any) -> list[str | None] | None:
    """Per text, the adapter a request asked for (None: the base model), checked against the loaded ones (422)."""
    if adapter is None:
        return None
    names = [adapter] * n_texts if isinstance(adapter, str) else list(adapter)
    if len(names) != n_texts:
        raise ApiError(422, "invalid_input", f"adapter has {len(names)} entries but there are {n_texts} texts")
    loaded = set(clf.adapters)
    unknown = sorted({name for name in names if name is not None and name != "__base__" and name not in loaded})
    if unknown:
        raise ApiError(
            404,
            "unknown_adapter",
            f"no adapter named {unknown[0]!r} is loaded (loaded: "
            f"{', '.join(sorted(loaded)) or 'none'}); PUT /v1/adapters/{{name}} loads one",
        )
    return names if any(name is not None and name != "__base__" for name in names) else None


def load_startup_adapters(clf: Any, adapters: dict[str, str] | None, max_adapters: int, max_mb: float) -> None:
    """``create_app(adapters={name: path})``: load them now, within the limits (a bad one stops the start)."""
    for name, path in (adapters or {}).items():
        check_room(clf, max_adapters)
        clf.load_adapter(path, name=name)
        check_memory(clf, name, max_mb)


def check_room(clf: Any, max_adapters: int) -> None:
    if len(clf.adapters) >= max_adapters:
        raise ApiError(
            422,
            "too_many_adapters",
            f"{len(clf.adapters)} adapters are loaded; the limit is "
            f"{max_adapters} (DELETE /v1/adapters/{{name}} unloads one)",
            max_adapters,
        )


def check_memory(clf: Any, name: str, max_mb: float) -> None:
    """Unload ``name`` again if the adapters now hold more than ``max_mb`` (counted on the stacked layers)."""
    used = adapter_bytes(clf) / 2**20
    if used > max_mb:
        clf.unload_adapter(name)
        raise ApiError(
            413,
            "adapters_too_large",
            f"with adapter {name!r} the adapters would hold {used:.1f} MB; the limit is {max_mb:g} MB",
            max_mb,
        )


def adapter_bytes(clf: Any) -> int:
    """Memory of the batched layers' stacked adapter matrices (what the adapters really cost while loaded)."""
    adapters = getattr(clf.backend, "adapters", None)
    if adapters is None:
        return 0
    return sum(
        layer.A.numel() * layer.A.element_size() + layer.B.numel() * layer.B.element_size()
        for layer in adapters.layers.values()
    )


def add_adapter_routes(
    app: FastAPI, api_key: str | None, max_adapters: int = DEFAULT_MAX_ADAPTERS, max_mb: float = DEFAULT_MAX_ADAPTER_MB
) -> None:
    """Register ``GET/PUT/DELETE /v1/adapters[/{name}]`` on ``app`` (built by ``serve.app.create_app``)."""
    from .batcher import Job
    from .middleware import client_id
    from .schemas import ErrorResponse
    from .turn import submit_mapped

    security = security_dependencies(api_key)
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422)}
    clf = app.state.classifier

    def describe() -> dict[str, Any]:
        adapters = getattr(clf.backend, "adapters", None)
        items = (
            []
            if adapters is None
            else [{"name": a.name, "rank": a.rank, "modules": len(a.weights)} for a in adapters.adapters.values()]
        )
        return {
            "adapters": items,
            "memory_mb": round(adapter_bytes(clf) / 2**20, 3),
            "max_adapters": max_adapters,
            "max_adapter_mb": max_mb,
        }

    async def on_model_thread(request: Request, what: str, call: Any) -> None:
        """Run ``call`` alone on the model's thread through the fair queue (never during a model call)."""

        def run() -> list[Any]:
            call()
            return []

        job = Job([what], [[]], True, 0.5, work=1, call=run, client=client_id(request.scope))
        await submit_mapped(app.state.batcher, job, request, app.state.limits.request_timeout_s)

    @app.get("/v1/adapters", dependencies=security)
    async def list_adapters() -> dict[str, Any]:
        """The loaded LoRA adapters, their memory and the limits."""
        return describe()

    @app.put("/v1/adapters/{name}", responses=errors, dependencies=security)
    async def put_adapter(name: str, body: AdapterBody, request: Request) -> dict[str, Any]:
        """Load the PEFT LoRA adapter folder ``body.path`` (on the server) as ``name``; needs the API key."""
        if api_key is None:
            raise ApiError(
                403,
                "forbidden",
                "loading adapters reads folders on the server, so it needs an API key: "
                "start the server with --api-key (or load adapters at start with --adapter NAME=PATH)",
            )
        from ..modeling.adapters import check_adapter_name

        try:
            check_adapter_name(name)
        except ValueError as err:
            raise ApiError(422, "invalid_input", str(err)) from None
        if name in clf.adapters:
            raise ApiError(422, "adapter_exists", f"an adapter named {name!r} is loaded: DELETE it first")
        if not Path(body.path).is_dir():
            raise ApiError(422, "invalid_input", f"{body.path} is not a folder on the server")
        check_room(clf, max_adapters)

        def load() -> None:
            clf.load_adapter(body.path, name=name)
            check_memory(clf, name, max_mb)

        try:
            await on_model_thread(request, f"load adapter {name}", load)
        except (FileNotFoundError, OSError) as err:
            raise ApiError(422, "invalid_input", str(err)) from None
        return describe()

    @app.delete("/v1/adapters/{name}", responses=errors, dependencies=security)
    async def delete_adapter(name: str, request: Request) -> dict[str, Any]:
        """Unload the adapter ``name``; requests naming it get 404 from then on."""
        if api_key is None:
            raise ApiError(403, "forbidden", "unloading adapters needs an API key (start the server with --api-key)")
        if name not in clf.adapters:
            raise ApiError(404, "unknown_adapter", f"no adapter named {name!r} is loaded")
        await on_model_thread(request, f"unload adapter {name}", lambda: clf.unload_adapter(name))
        return describe()
