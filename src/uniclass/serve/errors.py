"""The one error body of the service, ``{"error": {"code", "message", "limit"?}}``, and the handlers that give it
to every error FastAPI or the app raises (a limit, malformed JSON, a wrong type, a missing route, a crash)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .batcher import Overloaded, ShuttingDown

logger = logging.getLogger("uniclass.serve")


class ApiError(Exception):
    """An error answered with the common error body; ``limit`` names the value a request went over."""

    def __init__(self, status: int, code: str, message: str, limit: float | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.limit = status, code, message, limit


def over_limit(code: str, what: str, limit: float) -> ApiError:
    """The 422 refusal of a request over one of the server's limits: ``what`` it sent, and the limit.

    Example:
        >>> over_limit("too_many_texts", "3 texts in one request", 2).message
        '3 texts in one request; the limit is 2'
    """
    return ApiError(422, code, f"{what}; the limit is {limit}", limit)


def error_response(
    status: int, code: str, message: str, limit: float | None = None, *, retry_after: float = 1.0, **extra: Any
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        detail["limit"] = limit
    detail.update(extra)
    headers = (
        {"WWW-Authenticate": "Bearer"}
        if status == 401
        else {"Retry-After": str(max(1, math.ceil(retry_after)))}
        if status in (429, 503)
        else None
    )
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def api_error_for(err: Exception, timeout: float) -> ApiError:
    if isinstance(err, Overloaded):
        return ApiError(503, "overloaded", str(err), err.limit)
    if isinstance(err, ShuttingDown):
        return ApiError(503, "shutting_down", str(err))
    return ApiError(504, "timeout", f"the request was not answered within {timeout:g} s", timeout)


def add_error_handlers(app: FastAPI) -> None:
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
        problems = [
            {
                "field": ".".join(str(part) for part in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in errors
        ]
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
