"""WebSocket ``/v1/tts/listen``: receive-only copies of the account's TTS streams started with ``broadcast``.

Meant for an OBS browser source (``/obs``): the streamer types on one page and the audience hears it through OBS.
"""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from realtime.pipeline.broadcast import CHANNEL_PATTERN, Listener, TooManyListeners
from realtime.transports.ws_common import (
    CLOSE_POLICY,
    ClientTooSlow,
    EventSender,
    accept_authenticated,
    client_messages,
)

router = APIRouter()

DEFAULT_CHANNEL = "obs"


async def _relay(listener: Listener, send: EventSender) -> None:
    while True:
        item = await listener.get()
        if isinstance(item, bytes):
            await send.binary(item)
        else:
            await send.event(item)


async def _ignore_messages(ws: WebSocket, send: EventSender) -> None:
    async for _ in client_messages(ws, send, None):
        await send.error("unexpected_message", "this endpoint only sends; client messages are ignored")


@router.websocket("/v1/tts/listen")
async def tts_listen(ws: WebSocket) -> None:
    auth = await accept_authenticated(ws)
    if auth is None:
        return
    state, account = auth
    send = EventSender(ws)
    channel = ws.query_params.get("channel", DEFAULT_CHANNEL)
    if not re.fullmatch(CHANNEL_PATTERN, channel):
        await send.error("invalid_channel", "channel must be 1-32 letters, digits, '_' or '-'")
        await send.close(CLOSE_POLICY, "invalid channel")
        return
    try:
        listener = state.broadcast.subscribe(account.id, channel)
    except TooManyListeners as exc:
        await send.error("too_many_listeners", str(exc))
        await send.close(CLOSE_POLICY, "too many listeners")
        return
    try:
        await send.event({"type": "listening", "channel": channel, "format": "pcm_s16le",
                          "sample_rate": state.tts_engine.sample_rate_hz})
        try:
            async with asyncio.TaskGroup() as tg:
                relay = tg.create_task(_relay(listener, send))
                await _ignore_messages(ws, send)
                relay.cancel()
        except* (WebSocketDisconnect, ClientTooSlow):
            pass  # the listener left, or stopped reading and is dropped
    finally:
        state.broadcast.unsubscribe(listener)
