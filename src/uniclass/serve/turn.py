"""One request's way through the server: planned on the planning executor, then answered by the fair queue,
under one deadline from its arrival, with the planner's and the queue's errors mapped to API errors."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from .batcher import Job, MicroBatcher, Overloaded, ShuttingDown
from .errors import ApiError, api_error_for
from .limits import Limits
from .metrics import Metrics
from .middleware import client_id
from .planning import DeadlinePassed, Planner


@dataclasses.dataclass
class Service:
    """What the routes serve with, made once by ``create_app``: a route module's ``register(app, service)``
    adds its routes with these (``routes``, ``label_sets``; other modules can register the same way)."""

    clf: Any
    name: str
    limits: Limits
    metrics: Metrics
    batcher: MicroBatcher
    planner: Planner
    api_key: str | None
    batch_size: int = 32

    def security(self) -> list[Any]:
        """FastAPI security dependencies of ``/v1`` routes when a key is set (``Guard`` checks the key before the
        body is read; these put the schemes in the OpenAPI schema, so /docs has an "Authorize" button)."""
        return security_dependencies(self.api_key)


def security_dependencies(api_key: str | None) -> list[Any]:
    """The ``dependencies=`` of a ``/v1`` route: the API-key schemes when a key is set (for OpenAPI; ``Guard``
    enforces the key)."""
    if api_key is None:
        return []
    return [Security(HTTPBearer(auto_error=False)), Security(APIKeyHeader(name="X-API-Key", auto_error=False))]


@dataclasses.dataclass
class Turn:
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
            return await self.planner.run(
                fn, *args, deadline=self.deadline, expired=self.batcher.until_expired, client=self.client
            )
        except (ValueError, TypeError) as err:
            raise ApiError(422, "invalid_input", str(err)) from None
        except (DeadlinePassed, Overloaded, ShuttingDown) as err:
            raise api_error_for(err, self.limits.request_timeout_s) from None

    async def submit(self, job: Job) -> list[Any]:
        """The job's results from the fair queue, charged to this client, within what is left of the deadline."""
        job.client = self.client
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise api_error_for(DeadlinePassed(), self.limits.request_timeout_s)
        return await submit_mapped(self.batcher, job, self.request, remaining, self.limits.request_timeout_s)


async def submit_mapped(
    batcher: MicroBatcher, job: Job, request: Request, timeout: float, configured: float | None = None
) -> list[Any]:
    """``_submit`` with the queue's and the classifier's errors mapped to API errors (503, 422)."""
    try:
        return await _submit(batcher, job, request, timeout, configured)
    except (Overloaded, ShuttingDown) as err:
        raise api_error_for(err, timeout) from None
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None


async def _submit(
    batcher: MicroBatcher, job: Job, request: Request, timeout: float, configured: float | None = None
) -> list[Any]:
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
