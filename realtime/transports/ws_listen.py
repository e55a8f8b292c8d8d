"""WebSocket ``/v1/tts/listen``: receive-only copies of the account's TTS streams started with ``broadcast``.

Meant for an OBS browser source (``/obs``): the streamer types on one page and the audience hears it through OBS.
A listener authenticates with a listen-only token (``?token=``, bound to one channel) or with the API key.
"""

from __future__ import annotations

import asyncio
import re
import uuid

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from realtime.pipeline.broadcast import CHANNEL_PATTERN, RELAY_ERRORS, Listener, Revoked, TooManyListeners
from realtime.state import AppState
from realtime.transports.ws_common import (
    CLOSE_POLICY,
    CLOSE_UNAUTHORIZED,
    ClientTooSlow,
    EventSender,
    authenticate,
    client_messages,
    quiet_disconnects,
)

router = APIRouter()

CLOSE_TRY_AGAIN = 1013

DEFAULT_CHANNEL = "obs"


class _Refused(Exception):
    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


async def _resolve(ws: WebSocket, state: AppState) -> tuple[uuid.UUID, str, uuid.UUID | None]:
    """(account id, channel, listen token id) for this connection."""
    requested = ws.query_params.get("channel")
    if (token := ws.query_params.get("token")) is not None:
        record = await state.listen_tokens.resolve(token)
        if record is None:
            raise _Refused("unauthorized", "unknown or revoked listen token", CLOSE_UNAUTHORIZED)
        if requested is not None and requested != record.channel:
            raise _Refused("invalid_channel", f"this token listens to channel {record.channel!r} only", CLOSE_POLICY)
        return record.account_id, record.channel, record.id
    account = await authenticate(ws, state)
    if account is None:
        raise _Refused("unauthorized", "pass a listen token (?token=), or an api_key query parameter or "
                       "Authorization: Bearer header", CLOSE_UNAUTHORIZED)
    channel = DEFAULT_CHANNEL if requested is None else requested
    if not re.fullmatch(CHANNEL_PATTERN, channel):
        raise _Refused("invalid_channel", "channel must be 1-32 letters, digits, '_' or '-'", CLOSE_POLICY)
    return account.id, channel, None


async def _relay(listener: Listener, send: EventSender) -> None:
    while True:
        item = await listener.get()
        if isinstance(item, Revoked):
            await send.error("token_revoked", "this listen token was deleted")
            await send.close(CLOSE_UNAUTHORIZED, "token revoked")
            return
        if isinstance(item, bytes):
            await send.binary(item)
        else:
            await send.event(item)


async def _ignore_messages(ws: WebSocket, send: EventSender) -> None:
    async for _ in client_messages(ws, send, None):
        await send.error("unexpected_message", "this endpoint only sends; client messages are ignored")


@router.websocket("/v1/tts/listen")
@quiet_disconnects
async def tts_listen(ws: WebSocket) -> None:
    state: AppState = ws.app.state.duble
    await ws.accept()
    send = EventSender(ws)
    try:
        account_id, channel, token_id = await _resolve(ws, state)
        listener = await state.broadcast.subscribe(account_id, channel, token_id)
    except _Refused as exc:
        await send.error(exc.code, exc.message)
        await send.close(exc.close_code, exc.code)
        return
    except TooManyListeners as exc:
        await send.error("too_many_listeners", str(exc))
        await send.close(CLOSE_POLICY, "too many listeners")
        return
    except RELAY_ERRORS:
        await send.error("relay_unavailable", "the relay is unavailable; try again shortly")
        await send.close(CLOSE_TRY_AGAIN, "relay unavailable")
        return
    try:
        await send.event({"type": "listening", "channel": channel, "format": "pcm_s16le",
                          "sample_rate": state.tts_engine.sample_rate_hz})
        try:
            async with asyncio.TaskGroup() as tg:
                relay = tg.create_task(_relay(listener, send))
                messages = tg.create_task(_ignore_messages(ws, send))
                # Whichever ends first (client gone, token revoked) ends the other.
                relay.add_done_callback(lambda _: messages.cancel())
                messages.add_done_callback(lambda _: relay.cancel())
        except* (WebSocketDisconnect, ClientTooSlow):
            pass  # the listener left, or stopped reading and is dropped
    finally:
        await state.broadcast.unsubscribe(listener)
