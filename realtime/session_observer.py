"""Watches every request and WebSocket at the ASGI edge, without touching the transports: sessions open by kind,
time to first audio, conversion latency, error events by code, HTTP statuses; and the request/session ids that
JSON log lines carry (``realtime.json_logs``)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from realtime.drain import ASGIApp, Message, Receive, Send
from realtime.json_logs import LogContext, log_context
from realtime.ops_metrics import Metrics

log = logging.getLogger("duble.sessions")

_KINDS = {"/v1/tts/stream": "tts", "/v1/vc/stream": "vc", "/v1/webrtc/signal": "webrtc", "/v1/tts/listen": "listen"}


def _request_id(scope: MutableMapping[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii() and value.isalnum():
            return str(value.decode())
    return uuid.uuid4().hex[:16]


class _Session:
    """One WebSocket's timing: a pending start point per measurement, cleared by the next audio frame out."""

    def __init__(self, kind: str, metrics: Metrics, context: LogContext) -> None:
        self.kind = kind
        self.metrics = metrics
        self.context = context
        self.text_at: float | None = None
        self.audio_in_at: float | None = None

    def received(self, message: Message) -> None:
        if message["type"] != "websocket.receive":
            return
        if (data := message.get("bytes")) is not None:
            if self.kind == "vc" and self.audio_in_at is None and data:
                self.audio_in_at = time.perf_counter()
        elif self.kind == "tts" and self.text_at is None and '"text"' in (message.get("text") or ""):
            self.text_at = time.perf_counter()

    def sent(self, message: Message) -> None:
        if message["type"] != "websocket.send":
            return
        if message.get("bytes") is not None:
            now = time.perf_counter()
            if self.text_at is not None:
                self.metrics.ttfa.observe(now - self.text_at)
                self.text_at = None
            if self.audio_in_at is not None:
                self.metrics.vc_latency.labels(self.kind).observe(now - self.audio_in_at)
                self.audio_in_at = None
            return
        text = message.get("text") or ""
        if '"error"' not in text and '"started"' not in text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            return
        if event.get("type") == "error":
            self.metrics.session_errors.labels(self.kind, str(event.get("code", "unknown"))[:40]).inc()
        elif event.get("type") == "started" and isinstance(event.get("session_id"), str):
            self.context.session_id = event["session_id"]


class SessionObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        context = LogContext(_request_id(scope))
        token = log_context.set(context)
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send)
            else:
                await self._websocket(scope, receive, send, context)
        finally:
            log_context.reset(token)

    async def _http(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.http_responses.labels(f"{int(message['status']) // 100}xx").inc()
            await send(message)

        await self.app(scope, receive, observed_send)

    async def _websocket(self, scope: MutableMapping[str, Any], receive: Receive, send: Send,
                         context: LogContext) -> None:
        kind = _KINDS.get(str(scope.get("path", "")), "other")
        session = _Session(kind, self.metrics, context)

        async def observed_receive() -> Message:
            message = await receive()
            session.received(message)
            return message

        async def observed_send(message: Message) -> None:
            session.sent(message)
            await send(message)

        self.metrics.sessions.labels(kind).inc()
        open_gauge = self.metrics.sessions_open.labels(kind)
        open_gauge.inc()
        began = time.monotonic()
        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            open_gauge.dec()
            log.info("session ended", extra={"kind": kind, "duration_s": round(time.monotonic() - began, 3)})
