"""WebSocket ``/v1/tts/stream``: JSON control messages in; binary audio and JSON events out (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from billing.accounts import Account
from billing.stream_meter import SampleMeter
from realtime.frames import AudioFrame, CancelledFrame, DoneFrame, ErrorFrame, OutputFrame, SegmentFrame
from realtime.pipeline.broadcast import CHANNEL_PATTERN, BroadcastItem, BroadcastSource
from realtime.pipeline.flow_window import FlowWindow
from realtime.pipeline.language_detect import FALLBACK_LANGUAGE
from realtime.pipeline.tts_convert import open_convert_stage
from realtime.pipeline.tts_session import Emit, SessionInputError, TTSSession
from realtime.state import AppState
from realtime.transports.audio_codecs import AudioFormat, StreamEncoder, float_to_pcm, unsupported_rate_reason
from realtime.transports.ws_common import (
    ClientMessageError,
    EventSender,
    accept_authenticated,
    announce_relay,
    claim_channel,
    client_messages,
    deliver_audio,
    find_voice,
    handle_ack,
    open_meter,
    open_window,
    parse_json_message,
    quiet_disconnects,
    run_to_close,
    send_audio_bytes,
    validate,
)
from realtime.validation import Tag, check_multiline
from synthesis.interfaces import LANGUAGES, EngineError, Samples, SynthesisParams, VoiceReference

router = APIRouter()
log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 300.0


class StartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["start"]
    voice_id: str | None = None
    language: str | None = None
    format: AudioFormat = "pcm_s16le"
    sample_rate: int = Field(default=24000, ge=8000, le=48000)
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    pitch: float = Field(default=0.0, ge=-20, le=20)  # semitones
    tag: Tag | None = None  # usage reporting label
    convert: bool = False  # pass the speech through the voice's RVC model (TTS → RVC)
    broadcast: str | None = Field(default=None, pattern=CHANNEL_PATTERN)  # relay to /v1/tts/listen on this channel


class TextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: Annotated[str, AfterValidator(check_multiline)]  # tab and newline are fine, NUL and other controls are not


class _Stream:
    def __init__(self, session: TTSSession, encoder: StreamEncoder, window: FlowWindow, session_id: str,
                 broadcast: BroadcastSource | None) -> None:
        self.session = session
        self.encoder = encoder
        self.window = window
        self.session_id = session_id
        self.broadcast = broadcast
        self.task: asyncio.Task[None] | None = None
        self.billing: SampleMeter | None = None


class TTSConnection:
    """One client connection: at most one started stream."""

    def __init__(self, ws: WebSocket, state: AppState, account: Account) -> None:
        self._ws = ws
        self._state = state
        self._account = account
        self._send = EventSender(ws)
        self._stream: _Stream | None = None
        self._receiver: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._receiver = tg.create_task(self._receive_loop(tg))
        finally:
            if self._stream is not None:
                if self._stream.broadcast is not None:
                    self._stream.broadcast.end()
                self._stream.encoder.close()
                if self._stream.billing is not None:
                    with contextlib.suppress(Exception):
                        await self._stream.billing.meter.close()

    async def _receive_loop(self, tg: asyncio.TaskGroup) -> None:
        try:
            await self._receive_messages(tg)
        finally:
            if self._stream is not None and self._stream.task is not None:
                self._stream.task.cancel()

    async def _receive_messages(self, tg: asyncio.TaskGroup) -> None:
        async for message in client_messages(self._ws, self._send, IDLE_TIMEOUT_S):
            try:
                if message.get("bytes") is not None:
                    raise ClientMessageError("unexpected_binary", "this endpoint takes JSON text messages only")
                await self._handle(parse_json_message(message.get("text") or ""), tg)
            except (ClientMessageError, SessionInputError) as exc:
                await self._send.error(exc.code, exc.message)
                if isinstance(exc, ClientMessageError) and exc.close_code is not None:
                    await self._send.close(exc.close_code, exc.code)
                    return

    async def _handle(self, data: dict[str, object], tg: asyncio.TaskGroup) -> None:
        kind = data["type"]
        if kind == "start":
            await self._start(validate(StartMessage, data), tg)
            return
        if kind == "ack":
            handle_ack(None if self._stream is None else self._stream.window, data)
            return
        if kind not in ("text", "flush", "end", "cancel"):
            raise ClientMessageError("unknown_type", f"unknown message type {kind!r}")
        if self._stream is None:
            raise ClientMessageError("not_started", "send a 'start' message first")
        session = self._stream.session
        if kind == "text":
            text = validate(TextMessage, data).text
            limit = self._state.settings.max_text_chars
            if len(text) > limit:
                raise ClientMessageError("text_too_long", f"a text message may hold at most {limit} characters")
            session.push_text(text)
        elif kind == "flush":
            session.flush()
        elif kind == "end":
            session.end()
        else:
            session.cancel()

    async def _start(self, msg: StartMessage, tg: asyncio.TaskGroup) -> None:
        if self._stream is not None:
            raise ClientMessageError("already_started", "this connection already has a stream")
        if (reason := unsupported_rate_reason(msg.format, msg.sample_rate)) is not None:
            raise ClientMessageError("invalid_sample_rate", reason)
        voice = None if msg.voice_id is None else await find_voice(self._state, self._account, msg.voice_id)
        language = msg.language or (voice.language if voice else None)
        if language is not None and language not in LANGUAGES:
            raise ClientMessageError("invalid_language", f"language must be one of {', '.join(LANGUAGES)}")
        detect = self._state.language_detector if language is None else None
        if language is None and detect is None:
            raise ClientMessageError("invalid_message", "language is required when no voice_id is given")
        engine = self._state.tts_engine
        if voice is None and engine.requires_voice:
            raise ClientMessageError("voice_required", f"the {engine.name} engine speaks only in a voice: "
                                     "give a voice_id")
        params = SynthesisParams(language=language or FALLBACK_LANGUAGE, speed=msg.speed, pitch_semitones=msg.pitch)
        session_id = uuid.uuid4().hex
        emit: Emit = await self._convert_stage(voice, engine.sample_rate_hz) if msg.convert else self._emit
        # Billing last among the checks: a refused start must not leave a reservation behind.
        relay = await claim_channel(self._state, self._account, msg.broadcast, session_id)
        meter = await open_meter(self._state, self._ws, self._account, "tts_rvc" if msg.convert else "tts",
                                 msg.tag, session_id, engine.sample_rate_hz, relay)
        encoder = StreamEncoder(msg.format, msg.sample_rate, engine.sample_rate_hz)
        window = open_window(self._state, engine.sample_rate_hz)
        session = TTSSession(engine, voice, params, emit,
                             detect_language=None if detect is None else detect.detect_async)
        stream = _Stream(session, encoder, window, session_id, relay)
        stream.billing = meter
        self._stream = stream
        # language null: detected from the first sentence, reported in each segment.
        started: dict[str, object] = {"type": "started", "session_id": session_id, "format": msg.format,
                                      "sample_rate": msg.sample_rate, "language": language}
        announce_relay(relay, started, kind="tts", language=language, sample_rate=engine.sample_rate_hz)
        await self._send.event(started)
        stream.task = tg.create_task(self._run(stream))

    async def _convert_stage(self, voice: VoiceReference | None, rate_hz: int) -> Emit:
        try:
            return await open_convert_stage(self._state.vc, self._account.id, voice, rate_hz,
                                            self._emit)
        except EngineError as exc:
            raise ClientMessageError(exc.code, exc.message) from None

    async def _run(self, stream: _Stream) -> None:
        async def send_encoder_tail() -> None:
            await send_audio_bytes(self._send, stream.window, stream.encoder.finish())

        await run_to_close(self._send, stream.session.run(), label=f"tts session {stream.session_id}",
                           before_credits_error=send_encoder_tail)
        if self._receiver is not None:
            self._receiver.cancel()

    def _publish(self, item: BroadcastItem) -> None:
        if self._stream is not None and self._stream.broadcast is not None:
            self._stream.broadcast.publish(item)

    def _relay_audio(self, samples: Samples, _: bytes) -> None:
        if self._stream is not None and self._stream.broadcast is not None:
            self._stream.broadcast.publish(float_to_pcm(samples))

    async def _emit(self, frame: OutputFrame) -> None:
        assert self._stream is not None
        stream = self._stream
        if isinstance(frame, AudioFrame):
            await deliver_audio(frame.samples, stream.window, stream.billing, self._send, stream.encoder.encode,
                                self._relay_audio)
        elif isinstance(frame, SegmentFrame):
            segment = {"type": "segment", "index": frame.index, "text": frame.text, "start_ms": frame.start_ms,
                       "duration_ms": frame.duration_ms, "language": frame.language}
            await self._send.event(segment)
            self._publish(segment)
        elif isinstance(frame, ErrorFrame):
            await self._send.error(frame.code, frame.message)
        elif isinstance(frame, CancelledFrame):
            await self._send.event({"type": "cancelled"})
            self._publish({"type": "cancelled"})
        elif isinstance(frame, DoneFrame):
            await send_audio_bytes(self._send, stream.window, stream.encoder.finish())
            if self._stream.billing is not None and (final := self._stream.billing.last_update) is not None:
                await self._send.event(final.event())
            await self._send.event({"type": "done", "audio_ms": frame.audio_ms})


@router.websocket("/v1/tts/stream")
@quiet_disconnects
async def tts_stream(ws: WebSocket) -> None:
    if (auth := await accept_authenticated(ws)) is not None:
        with contextlib.suppress(WebSocketDisconnect):
            await TTSConnection(ws, *auth).serve()
