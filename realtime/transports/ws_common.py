"""Pieces every WebSocket transport shares: auth, JSON events, close codes, a send lock."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

import orjson
from anyio import BrokenResourceError, ClosedResourceError
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError
from starlette.types import Message
from starlette.websockets import WebSocketState
from uvicorn.protocols.utils import ClientDisconnected
from websockets.exceptions import ConnectionClosed

from billing.accounts import Account
from billing.errors import BillingError, BillingUnavailable
from billing.stream_meter import CreditsExhausted, SampleMeter
from realtime.auth.web import same_origin, session_of
from realtime.deps import bearer_token
from realtime.errors import CLOSE_TRY_AGAIN
from realtime.pipeline.broadcast import BroadcastSource, ChannelBusy
from realtime.pipeline.flow_window import ClientStalled, FlowWindow, InvalidAck
from realtime.pipeline.stream_setup import ClientMessageError as ClientMessageError
from realtime.pipeline.stream_setup import find_voice as find_voice
from realtime.state import AppState
from synthesis.interfaces import EngineError, Samples

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHORIZED = 4401
CLOSE_IDLE = 4408
CLOSE_STALLED = 4408
CLOSE_PAYMENT_REQUIRED = 4402
# A client that stops reading blocks our sends (TCP backpressure); past this it is dropped.
SEND_TIMEOUT_S = 15.0


class ClientTooSlow(Exception):
    pass


def is_disconnect(exc: BaseException) -> bool:
    """The client went away (a send or receive on a closed socket), alone or as every error of a task group."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_disconnect(e) for e in exc.exceptions)
    return isinstance(exc, WebSocketDisconnect | ClientDisconnected | ConnectionClosed | ClosedResourceError |
                      BrokenResourceError)


def quiet_disconnects(handler: Callable[[WebSocket], Awaitable[None]]) -> Callable[[WebSocket], Awaitable[None]]:
    """A WebSocket route under this decorator ends quietly when its client goes away, whatever it was sending:
    a disconnect is routine, not an "Exception in ASGI application"."""

    @functools.wraps(handler)
    async def route(ws: WebSocket) -> None:
        try:
            await handler(ws)
        except Exception as exc:
            if not is_disconnect(exc):
                raise
            log.debug("%s: client disconnected", ws.url.path)

    return route


class AckMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ack"]
    bytes: StrictInt  # binary-frame bytes received on this connection so far


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:4]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid message"


def parse_json_message(raw: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ClientMessageError("invalid_json", "message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ClientMessageError("invalid_message", "message must be a JSON object")
    if not isinstance(data.get("type"), str):
        raise ClientMessageError("invalid_message", "message needs a string 'type' field")
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ClientMessageError("invalid_message", describe_validation(exc)) from None


async def authenticate(ws: WebSocket, state: AppState) -> Account | None:
    """The API key (query or Bearer header), else the web app's session cookie when the page is this server's."""
    token = ws.query_params.get("api_key") or bearer_token(ws)
    if token:
        return await state.accounts.by_api_key(token)
    if not same_origin(ws, state.settings.public_base_url):
        return None
    session = await session_of(ws, state.web)
    return session.account if session else None


class EventSender:
    """Serialises sends from the session task and the receive loop onto one socket."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()
        self._closed = False  # closed by us: what is still queued (a last stats event) has no one to go to

    @property
    def open(self) -> bool:
        return self._ws.application_state == WebSocketState.CONNECTED and \
            self._ws.client_state == WebSocketState.CONNECTED

    async def event(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            if self._closed:
                return
            await self._timed(self._ws.send_text(orjson.dumps(payload).decode()))

    async def error(self, code: str, message: str) -> None:
        await self.event({"type": "error", "code": code, "message": message})

    async def binary(self, data: bytes) -> None:
        async with self._lock:
            if self._closed:
                return
            await self._timed(self._ws.send_bytes(data))

    @staticmethod
    async def _timed(send: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await send
        except TimeoutError:
            raise ClientTooSlow(f"client did not read for {SEND_TIMEOUT_S:.0f} s") from None

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        async with self._lock:
            self._closed = True
            if self._ws.application_state == WebSocketState.CONNECTED:
                await self._ws.close(code, reason)


async def accept_authenticated(ws: WebSocket) -> tuple[AppState, Account] | None:
    """Accept the socket and resolve its API key; on failure send ``unauthorized`` and close with 4401."""
    state: AppState = ws.app.state.duble
    await ws.accept()
    account = await authenticate(ws, state)
    if account is None:
        await ws.send_json({"type": "error", "code": "unauthorized",
                            "message": "pass a valid api_key query parameter or Authorization: Bearer header"})
        await ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
        return None
    return state, account


async def client_messages(ws: WebSocket, send: EventSender, idle_timeout_s: float | None) -> AsyncIterator[Message]:
    """The client's frames until it disconnects; after ``idle_timeout_s`` of silence: ``idle_timeout``, close 4408."""
    while True:
        try:
            async with asyncio.timeout(idle_timeout_s):
                message = await ws.receive()
        except TimeoutError:
            await send.error("idle_timeout", f"no message for {idle_timeout_s:.0f} s")
            await send.close(CLOSE_IDLE, "idle")
            return
        if message["type"] == "websocket.disconnect":
            return
        yield message


def open_window(state: AppState, rate_hz: int) -> FlowWindow:
    settings = state.settings
    return FlowWindow(rate_hz, window_ms=settings.ws_ack_window_ms, stall_timeout_s=settings.ws_stall_timeout_s)


def handle_ack(window: FlowWindow | None, data: dict[str, Any]) -> None:
    """Apply an ``ack`` message; before ``start`` nothing was sent, so only 0 is a valid count."""
    received = validate(AckMessage, data).bytes
    if received < 0:
        raise ClientMessageError("invalid_ack", "bytes must be a count of bytes received (0 or more)")
    try:
        if window is None:
            if received:
                raise InvalidAck(f"ack of {received} bytes, but only 0 were sent")
            return
        window.ack(received)
    except InvalidAck as exc:
        raise ClientMessageError(exc.code, exc.message) from None


async def deliver_audio(samples: Samples, window: FlowWindow, meter: SampleMeter | None, send: EventSender,
                        encode: Callable[[Samples], bytes],
                        relay: Callable[[Samples, bytes], None] | None = None) -> None:
    """Send audio through the client's ack window in pieces that fit, charging each piece once sent (and handing
    it to ``relay``). Raises ``CreditsExhausted`` after the last paid piece and ``ClientStalled`` when the client
    stops acknowledging."""
    while len(samples):
        n = await window.room(len(samples))
        piece = samples[:n]
        if meter is not None:
            piece = piece[: await meter.admit(n)]
        data = encode(piece) if len(piece) else b""
        await send_audio_bytes(send, window, data, len(piece))
        if relay is not None and len(piece):
            relay(piece, data)
        if meter is not None:
            usage = await meter.delivered(len(piece))
            if usage.report:
                await send.event(usage.event())
            if usage.exhausted:
                raise CreditsExhausted()
        if len(piece) < n:
            return  # credits ran out mid-frame: the rest is not paid for
        samples = samples[n:]


async def send_audio_bytes(send: EventSender, window: FlowWindow, data: bytes, n_samples: int = 0) -> None:
    """One binary frame carrying ``n_samples`` new samples (0: an encoder's tail)."""
    # Counted before the write: the client may acknowledge the bytes before the write returns.
    window.sent(n_samples, len(data))
    if data:
        await send.binary(data)


async def claim_channel(state: AppState, account: Account, channel: str | None,
                        session_id: str) -> BroadcastSource | None:
    """The relay channel a stream asked for (``broadcast``), held until the source's ``end()``."""
    if channel is None:
        return None
    try:
        return await state.broadcast.open_source(account.id, channel, session_id)
    except ChannelBusy as exc:
        raise ClientMessageError("channel_busy", str(exc)) from None


def announce_relay(relay: BroadcastSource | None, started: dict[str, object], **fields: object) -> None:
    """Tell the channel's listeners a source started, and the speaker how many listen (``started.listeners``)."""
    if relay is not None:
        started["listeners"] = relay.listeners
        relay.start(**fields)


async def open_meter(state: AppState, ws: WebSocket, account: Account, operation: str, tag: str | None,
                     session_id: str, rate_hz: int, relay: BroadcastSource | None = None) -> SampleMeter:
    """Rate limit and reserve credits for a new stream; billing refusals become client errors (and free the
    stream's relay channel, if it claimed one)."""
    client = ws.client
    try:
        meter = await state.billing.start_session(account.id, operation, tag, ip=client.host if client else None,
                                                  paid_plan=account.plan != "free", session_id=session_id)
    except BaseException as exc:
        if relay is not None:
            relay.end()
        if isinstance(exc, BillingUnavailable):
            raise ClientMessageError(exc.code, exc.message, CLOSE_TRY_AGAIN) from None
        if isinstance(exc, BillingError):
            raise ClientMessageError(exc.code, exc.message) from None
        raise
    return SampleMeter(meter, rate_hz)


async def run_to_close(send: EventSender, run: Awaitable[None], *, label: str, close_when_done: bool = True,
                       engine_close_code: int = CLOSE_INTERNAL,
                       before_credits_error: Callable[[], Awaitable[None]] | None = None) -> None:
    """Await a stream's session and end the socket as its outcome asks: credits ran out → ``insufficient_credits``
    and 4402; an engine failure → its error and ``engine_close_code``; the billing store unreachable →
    ``billing_unavailable`` and 1013; anything else → ``internal_error`` and 1011; a client that stopped
    acknowledging → ``client_stalled`` and 4408; a client whose socket stopped taking data is dropped. Never raises
    (cancellation aside)."""
    try:
        await run
    except ClientTooSlow:
        log.warning("%s: client stopped reading; dropped", label)
    except ClientStalled as exc:
        log.info("%s: client stalled; closed", label)
        with contextlib.suppress(Exception):
            await send.error(exc.code, exc.message)
            await send.close(CLOSE_STALLED, "client stalled")
    except CreditsExhausted as exc:
        with contextlib.suppress(Exception):
            if before_credits_error is not None:
                await before_credits_error()
            await send.error(exc.code, exc.message)
            await send.close(CLOSE_PAYMENT_REQUIRED, "insufficient credits")
    except EngineError as exc:
        log.warning("%s: engine error %s (%s)", label, exc.code, exc.message)
        with contextlib.suppress(Exception):
            await send.error(exc.code, exc.message)
            await send.close(engine_close_code, "conversion failed")
    except BillingUnavailable as exc:
        log.warning("%s: billing store unreachable; stream ended", label)
        with contextlib.suppress(Exception):
            await send.error(exc.code, "the billing store is unreachable; try again shortly")
            await send.close(CLOSE_TRY_AGAIN, exc.code)
    except Exception as exc:
        if is_disconnect(exc):
            log.info("%s: client disconnected", label)
            return
        log.exception("%s failed", label)
        with contextlib.suppress(Exception):
            await send.error("internal_error", "the stream failed unexpectedly")
            await send.close(CLOSE_INTERNAL, "internal error")
    else:
        if close_when_done:
            with contextlib.suppress(Exception):
                await send.close(CLOSE_NORMAL, "done")
