"""WebSocket ``/v1/vc/stream``: live voice conversion. Binary PCM in, converted binary PCM out, JSON events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from billing.accounts import Account
from billing.stream_meter import SampleMeter
from realtime.frames import AudioFrame, DoneFrame
from realtime.pipeline.broadcast import BroadcastSource
from realtime.pipeline.flow_window import FlowWindow
from realtime.pipeline.vc_session import VCOutput, VCSession, VCStatsFrame
from realtime.pipeline.vc_start import BILLING_OPERATION, VCStartMessage, block_ms, open_converter
from realtime.state import AppState
from realtime.transports.audio_codecs import float_to_pcm, pcm_to_float
from realtime.transports.ws_common import (
    ClientMessageError,
    EventSender,
    accept_authenticated,
    announce_relay,
    claim_channel,
    client_messages,
    deliver_audio,
    handle_ack,
    open_meter,
    open_window,
    parse_json_message,
    quiet_disconnects,
    run_to_close,
    validate,
)
from synthesis.interfaces import Samples

router = APIRouter()
log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 60.0
class VCConnection:
    def __init__(self, ws: WebSocket, state: AppState, account: Account) -> None:
        self._ws = ws
        self._state = state
        self._account = account
        self._send = EventSender(ws)
        self._session: VCSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._meter: SampleMeter | None = None
        self._relay: BroadcastSource | None = None
        self._window: FlowWindow | None = None
        self._ended = False

    async def serve(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive_loop(tg))
        finally:
            if self._relay is not None:
                self._relay.end()
            if self._meter is not None:
                with contextlib.suppress(Exception):
                    await self._meter.meter.close()

    async def _receive_loop(self, tg: asyncio.TaskGroup) -> None:
        try:
            async for message in client_messages(self._ws, self._send, IDLE_TIMEOUT_S):
                try:
                    if message.get("bytes") is not None:
                        self._audio(message["bytes"])
                    else:
                        await self._handle(parse_json_message(message.get("text") or ""), tg)
                except ClientMessageError as exc:
                    await self._send.error(exc.code, exc.message)
                    if exc.close_code is not None:
                        await self._send.close(exc.close_code, exc.code)
                        return
        finally:
            if self._task is not None and not self._ended:
                self._task.cancel()

    def _audio(self, data: bytes) -> None:
        if self._session is None:
            raise ClientMessageError("not_started", "send a 'start' message before audio")
        if self._ended:
            raise ClientMessageError("ended", "the stream has ended")
        limit = self._state.settings.vc_max_frame_bytes
        if len(data) > limit:
            raise ClientMessageError("frame_too_large", f"an audio frame may hold at most {limit} bytes")
        if len(data) % 2:
            raise ClientMessageError("invalid_audio", "pcm_s16le frames must hold a whole number of 16-bit samples")
        self._session.push(pcm_to_float(data))

    async def _handle(self, data: dict[str, object], tg: asyncio.TaskGroup) -> None:
        kind = data["type"]
        if kind == "start":
            await self._start(validate(VCStartMessage, data), tg)
        elif kind == "ack":
            handle_ack(self._window, data)
        elif kind == "end":
            if self._session is None:
                raise ClientMessageError("not_started", "send a 'start' message first")
            self._ended = True
            self._session.end()
        else:
            raise ClientMessageError("unknown_type", f"unknown message type {kind!r}")

    async def _start(self, msg: VCStartMessage, tg: asyncio.TaskGroup) -> None:
        if self._session is not None:
            raise ClientMessageError("already_started", "this connection already has a stream")
        converter = await open_converter(self._state, self._account, msg)
        session_id = uuid.uuid4().hex
        self._relay = await claim_channel(self._state, self._account, msg.broadcast, session_id)
        self._meter = await open_meter(self._state, self._ws, self._account, BILLING_OPERATION, msg.tag,
                                       session_id, msg.sample_rate, self._relay)
        settings = self._state.settings
        session = VCSession(converter, self._state.worker, self._emit, rate_hz=msg.sample_rate,
                            max_backlog_ms=settings.vc_max_backlog_ms)
        self._session = session
        self._window = open_window(self._state, msg.sample_rate)
        started: dict[str, object] = {
            "type": "started", "session_id": session_id, "format": msg.format, "sample_rate": msg.sample_rate,
            "engine": type(converter).__name__, "block_ms": block_ms(converter),
            "algorithmic_latency_ms": round(session.algorithmic_latency_ms, 1)}
        announce_relay(self._relay, started, kind="vc", sample_rate=msg.sample_rate)
        await self._send.event(started)
        self._task = tg.create_task(self._run(session_id))

    async def _run(self, session_id: str) -> None:
        assert self._session is not None
        await run_to_close(self._send, self._session.run(), label=f"vc session {session_id}")

    def _publish(self, _: Samples, pcm: bytes) -> None:
        if self._relay is not None:
            self._relay.publish(pcm)

    async def _emit(self, frame: VCOutput) -> None:
        if isinstance(frame, AudioFrame):
            assert self._window is not None
            await deliver_audio(frame.samples, self._window, self._meter, self._send, float_to_pcm, self._publish)
        elif isinstance(frame, VCStatsFrame):
            await self._send.event(frame.event())
        elif isinstance(frame, DoneFrame):
            assert self._session is not None
            c = self._session.counters
            rate = self._session.rate_hz / 1000
            await self._send.event({"type": "done", "audio_ms": frame.audio_ms,
                                    "input_ms": round(c.input_samples / rate),
                                    "dropped_ms": round(c.dropped_samples / rate)})


@router.websocket("/v1/vc/stream")
@quiet_disconnects
async def vc_stream(ws: WebSocket) -> None:
    if (auth := await accept_authenticated(ws)) is not None:
        with contextlib.suppress(WebSocketDisconnect):
            await VCConnection(ws, *auth).serve()
