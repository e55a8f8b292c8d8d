"""The one error shape every HTTP endpoint returns: ``{"error": {"code", "message"}}``; outages of Redis or
PostgreSQL answer 503 (HTTP) or an ``error`` event and close code 1013 (WebSocket) wherever they surface."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketState

from billing.errors import DATABASE_UNREACHABLE, REDIS_UNREACHABLE, BillingUnavailable

log = logging.getLogger(__name__)

# WebSocket close code for an outage: "try again later" (RFC 6455 registry).
CLOSE_TRY_AGAIN = 1013
RETRY_AFTER_S = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def outage_code(exc: BaseException) -> str | None:
    """``billing_unavailable`` (Redis), ``database_unavailable`` (PostgreSQL) or None for anything else; looks
    inside exception groups (a session's task group wraps what its tasks raise)."""
    if isinstance(exc, (BillingUnavailable, *REDIS_UNREACHABLE)):
        return "billing_unavailable"
    if isinstance(exc, DATABASE_UNREACHABLE):
        return "database_unavailable"
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (code := outage_code(inner)) is not None:
                return code
    return None


_OUTAGE_MESSAGES = {
    "billing_unavailable": "the billing store is unreachable; try again shortly",
    "database_unavailable": "the database is unreachable; try again shortly",
}


async def _close_websocket(ws: WebSocket, code: str) -> None:
    with contextlib.suppress(Exception):
        if ws.application_state == WebSocketState.CONNECTING:
            await ws.accept()
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.send_json({"type": "error", "code": code, "message": _OUTAGE_MESSAGES[code]})
            await ws.close(CLOSE_TRY_AGAIN, code)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(error_body("invalid_request", _describe_validation(exc)), status_code=422)

    async def on_outage(conn: HTTPConnection, exc: Exception) -> Response | None:
        code = outage_code(exc)
        if code is None:  # an exception group holding no outage: not ours to answer
            raise exc
        log.warning("%s %s: %s (%s)", conn.scope["type"], conn.url.path, code, type(exc).__name__)
        if isinstance(conn, WebSocket):
            await _close_websocket(conn, code)
            return None
        return JSONResponse(error_body(code, _OUTAGE_MESSAGES[code]), status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only from outside the routing (middleware): the outage handler never saw it.
        if (code := outage_code(exc)) is not None:
            return JSONResponse(error_body(code, _OUTAGE_MESSAGES[code]), status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    outage = cast(Callable[[Request, Any], Coroutine[Any, Any, Response]], on_outage)
    outages: tuple[type[Exception], ...] = (BillingUnavailable, *REDIS_UNREACHABLE, *DATABASE_UNREACHABLE,
                                            ExceptionGroup)
    for cls in outages:
        app.add_exception_handler(cls, outage)
    app.add_exception_handler(Exception, on_unexpected)
