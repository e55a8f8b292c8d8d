"""Request-body bounds per route, enforced before the body is read: a ``Content-Length`` that claims more than the
route allows is answered 413 at once; an undeclared (chunked) body is cut off (413) once it passes the bound."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi._form_limits import _FormLimits
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_BODY_MAX_BYTES = 64 * 1024
# Boundaries, part headers and the small text fields of a multipart upload.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The largest form has three text fields and two files; a text field is at most a few KB (reference text).
FORM_LIMITS: _FormLimits = {"max_files": 2, "max_fields": 8, "max_part_size": 64 * 1024}


@dataclass(frozen=True, slots=True)
class RouteBound:
    method: str
    path: re.Pattern[str]
    max_bytes: int


class _BodyTooLarge(Exception):
    pass


def upload_bounds(max_upload_bytes: int, rvc_max_model_bytes: int) -> tuple[RouteBound, ...]:
    """The routes that take files; every other body gets ``JSON_BODY_MAX_BYTES``."""
    return (
        RouteBound("POST", re.compile(r"/v1/voices/?"), max_upload_bytes + MULTIPART_OVERHEAD_BYTES),
        # a .pth and an optional .index, each up to the model bound
        RouteBound("POST", re.compile(r"/v1/voices/[^/]+/rvc-model/?"),
                   2 * rvc_max_model_bytes + MULTIPART_OVERHEAD_BYTES),
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_messages(limit: int) -> tuple[Message, Message]:
    body = json.dumps({"error": {"code": "body_too_large",
                                 "message": f"the request body is larger than {limit} bytes"}}).encode()
    start: Message = {"type": "http.response.start", "status": 413,
                      "headers": [(b"content-type", b"application/json"),
                                  (b"content-length", str(len(body)).encode()), (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, bounds: tuple[RouteBound, ...],
                 default_max_bytes: int = JSON_BODY_MAX_BYTES) -> None:
        self.app = app
        self.bounds = bounds
        self.default_max_bytes = default_max_bytes

    def limit_for(self, method: str, path: str) -> int:
        for bound in self.bounds:
            if bound.method == method and bound.path.fullmatch(path):
                return bound.max_bytes
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            for message in _too_large_messages(limit):
                await send(message)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app makes of the cut-off, the client gets the 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            for message in _too_large_messages(limit):
                await send(message)
