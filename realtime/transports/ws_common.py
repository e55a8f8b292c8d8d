"""Pieces every WebSocket transport shares: auth, JSON events, close codes, a send lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import WebSocket
from pydantic import BaseModel, ValidationError
from starlette.types import Message
from starlette.websockets import WebSocketState

from billing.accounts import Account
from billing.errors import BillingError
from billing.stream_meter import CreditsExhausted, SampleMeter
from realtime.deps import bearer_token
from realtime.pipeline.broadcast import BroadcastSource, ChannelBusy
from realtime.state import AppState
from synthesis.interfaces import EngineError, VoiceReference

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHORIZED = 4401
CLOSE_IDLE = 4408
CLOSE_PAYMENT_REQUIRED = 4402
# A client that stops reading blocks our sends (TCP backpressure); past this it is dropped.
SEND_TIMEOUT_S = 15.0


class ClientTooSlow(Exception):
    pass


class ClientMessageError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    token = ws.query_params.get("api_key") or bearer_token(ws)
    if not token:
        return None
    return await state.accounts.by_api_key(token)


class EventSender:
    """Serialises sends from the session task and the receive loop onto one socket."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()

    @property
    def open(self) -> bool:
        return self._ws.application_state == WebSocketState.CONNECTED and \
            self._ws.client_state == WebSocketState.CONNECTED

    async def event(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._timed(self._ws.send_text(orjson.dumps(payload).decode()))

    async def error(self, code: str, message: str) -> None:
        await self.event({"type": "error", "code": code, "message": message})

    async def binary(self, data: bytes) -> None:
        async with self._lock:
            await self._timed(self._ws.send_bytes(data))

    @staticmethod
    async def _timed(send: Awaitable[None]) -> None:
        try:
            await asyncio.wait_for(send, timeout=SEND_TIMEOUT_S)
        except TimeoutError:
            raise ClientTooSlow(f"client did not read for {SEND_TIMEOUT_S:.0f} s") from None

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        async with self._lock:
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
            message = await asyncio.wait_for(ws.receive(), timeout=idle_timeout_s)
        except TimeoutError:
            await send.error("idle_timeout", f"no message for {idle_timeout_s:.0f} s")
            await send.close(CLOSE_IDLE, "idle")
            return
        if message["type"] == "websocket.disconnect":
            return
        yield message


async def find_voice(state: AppState, account: Account, voice_id: str) -> VoiceReference:
    try:
        parsed = uuid.UUID(voice_id)
    except ValueError:
        parsed = None
    voice = await state.voices.reference(account.id, parsed) if parsed else None
    if voice is None:
        raise ClientMessageError("voice_not_found", f"no voice with id {voice_id!r} in this account")
    return voice


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
        if isinstance(exc, BillingError):
            raise ClientMessageError(exc.code, exc.message) from None
        raise
    return SampleMeter(meter, rate_hz)


async def run_to_close(send: EventSender, run: Awaitable[None], *, label: str, close_when_done: bool = True,
                       engine_close_code: int = CLOSE_INTERNAL,
                       before_credits_error: Callable[[], Awaitable[None]] | None = None) -> None:
    """Await a stream's session and end the socket as its outcome asks: credits ran out → ``insufficient_credits``
    and 4402; an engine failure → its error and ``engine_close_code``; anything else → ``internal_error`` and 1011;
    a client that stopped reading is dropped. Never raises (cancellation aside)."""
    try:
        await run
    except ClientTooSlow:
        log.warning("%s: client stopped reading; dropped", label)
    except CreditsExhausted as exc:
        with contextlib.suppress(Exception):
            if before_credits_error is not None:
                await before_credits_error()
            await send.error(exc.code, exc.message)
            await send.close(CLOSE_PAYMENT_REQUIRED, "insufficient credits")
    except EngineError as exc:
        with contextlib.suppress(Exception):
            await send.error(exc.code, exc.message)
            await send.close(engine_close_code, "conversion failed")
    except Exception:
        log.exception("%s failed", label)
        with contextlib.suppress(Exception):
            await send.error("internal_error", "the stream failed unexpectedly")
            await send.close(CLOSE_INTERNAL, "internal error")
    else:
        if close_when_done:
            with contextlib.suppress(Exception):
                await send.close(CLOSE_NORMAL, "done")
