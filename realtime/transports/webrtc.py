"""WebRTC live conversion with aiortc; signaling (offer/answer, candidates, events) over WebSocket /v1/webrtc/signal.

Client → server: ``{"type":"start", voice_id, pitch_shift, block_ms, engine, tag}`` then ``{"type":"offer","sdp"}``
(non-trickle: candidates inside the SDP; extra ``{"type":"candidate","candidate"}`` lines are accepted).
Server → client: ``started``, ``answer``, ``stats`` every second, ``usage``, ``error``, ``done``.
The peer's microphone track is converted and sent back on one audio track, paced in 20 ms frames (48 kHz, Opus).
Closing the signaling socket ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
import uuid
from types import TracebackType
from typing import Any, Literal

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from billing.accounts import Account
from billing.stream_meter import CreditsExhausted, SampleMeter
from realtime.config import Settings
from realtime.frames import AudioFrame, DoneFrame
from realtime.pipeline.broadcast import BroadcastSource
from realtime.pipeline.vc_session import VCOutput, VCSession, VCStatsFrame
from realtime.state import AppState
from realtime.transports.audio_codecs import float_to_pcm
from realtime.transports.ws_common import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    ClientMessageError,
    EventSender,
    accept_authenticated,
    announce_relay,
    claim_channel,
    open_meter,
    parse_json_message,
    run_to_close,
    validate,
)
from realtime.transports.ws_vc import BILLING_OPERATION, VCStartMessage, open_converter
from synthesis.interfaces import Samples

router = APIRouter()
log = logging.getLogger(__name__)

RATE_HZ = 48000
FRAME_SAMPLES = 960  # 20 ms: Opus packetization in aiortc; other sizes have caused growing delay
SIGNAL_TIMEOUT_S = 30.0
PREFILL_SAMPLES = FRAME_SAMPLES


class OfferMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["offer"]
    sdp: str


class WebRTCSessions:
    """Open peer connections; all are closed when the app stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pcs: set[RTCPeerConnection] = set()

    async def __aenter__(self) -> WebRTCSessions:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.gather(*(pc.close() for pc in list(self._pcs)), return_exceptions=True)
        self._pcs.clear()

    def create(self) -> RTCPeerConnection:
        if len(self._pcs) >= self.settings.webrtc_max_sessions:
            raise ClientMessageError("busy", "too many WebRTC sessions on this server, try again later")
        # No STUN/TURN: an empty server list keeps aiortc from contacting its default public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.add(pc)
        return pc

    async def release(self, pc: RTCPeerConnection) -> None:
        self._pcs.discard(pc)
        await pc.close()


def keep_candidates_on(sdp: str, address: str) -> str:
    """Drop remote ICE candidates on any address but ``address`` (so checks never leave it)."""
    lines = sdp.split("\r\n")
    kept = [ln for ln in lines if not ln.startswith("a=candidate:") or ln.split(" ")[4] == address]
    return "\r\n".join(kept)


async def gather_only_on(pc: RTCPeerConnection, address: str) -> None:
    """Gather host candidates on ``address`` alone (aioice skips 127.0.0.1 on its own). Call before the local
    description is set; per connection, through the ICE agent of each transport."""
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.sender.transport.transport.iceGatherer
        agent = gatherer._connection
        if agent._local_candidates_start:
            continue
        agent._local_candidates_start = True
        for component in agent._components:
            agent._local_candidates += await agent.get_component_candidates(component=component, addresses=[address])
        agent._local_candidates_end = True


class ConvertedTrack(MediaStreamTrack):
    """Outgoing audio: converted samples from a FIFO, 20 ms per ``recv``, paced by the clock; silence on underrun.

    The FIFO is capped at ``max_buffer_samples``: beyond that the oldest audio is dropped so delay stays bounded.
    """

    kind = "audio"

    def __init__(self, max_buffer_samples: int) -> None:
        super().__init__()
        self._fifo: Samples = np.zeros(0, dtype=np.float32)
        self._max = max_buffer_samples
        self._pts = 0
        self._start: float | None = None
        self._playing = False
        self.underruns = 0
        self.dropped_samples = 0
        self.sent_samples = 0

    def feed(self, samples: Samples) -> None:
        self._fifo = np.concatenate([self._fifo, samples])
        excess = len(self._fifo) - self._max
        if excess > 0:
            self._fifo = self._fifo[excess:]
            self.dropped_samples += excess

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE_HZ - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if not self._playing and len(self._fifo) >= PREFILL_SAMPLES:
            self._playing = True
        if self._playing and len(self._fifo) >= FRAME_SAMPLES:
            chunk, self._fifo = self._fifo[:FRAME_SAMPLES], self._fifo[FRAME_SAMPLES:]
            self.sent_samples += FRAME_SAMPLES
        else:
            if self._playing:
                self.underruns += 1
                self._playing = False
            chunk = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        pcm = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE_HZ
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE_HZ)
        self._pts += FRAME_SAMPLES
        return frame


class WebRTCCall:
    def __init__(self, ws: WebSocket, state: AppState, account: Account, sessions: WebRTCSessions) -> None:
        self._ws = ws
        self._state = state
        self._account = account
        self._sessions = sessions
        self._send = EventSender(ws)
        self._pc: RTCPeerConnection | None = None
        self._start: VCStartMessage | None = None
        self._session: VCSession | None = None
        self._meter: SampleMeter | None = None
        self._out: ConvertedTrack | None = None
        self._relay: BroadcastSource | None = None
        self._tg: asyncio.TaskGroup | None = None

    async def serve(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._signal_loop())
        finally:
            await self._hang_up()
            if self._relay is not None:
                self._relay.end()
            if self._meter is not None:
                with contextlib.suppress(Exception):
                    await self._meter.meter.close()

    async def _signal_loop(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    if message.get("bytes") is not None:
                        raise ClientMessageError("unexpected_binary", "signaling takes JSON text messages only")
                    await self._handle(parse_json_message(message.get("text") or ""))
                except ClientMessageError as exc:
                    await self._send.error(exc.code, exc.message)
        finally:
            # The socket is the call: closing the peer connection ends the pump (its track stops) and the session.
            if self._session is not None:
                self._session.end()
            await self._hang_up()

    async def _hang_up(self) -> None:
        if self._out is not None:
            self._out.stop()
        if self._pc is not None:
            pc, self._pc = self._pc, None
            await self._sessions.release(pc)

    async def _handle(self, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "start":
            await self._on_start(validate(VCStartMessage, {**data, "sample_rate": RATE_HZ}))
        elif kind == "offer":
            await self._on_offer(validate(OfferMessage, data))
        elif kind == "candidate":
            await self._on_candidate(data)
        elif kind == "end":
            await self._send.close(CLOSE_NORMAL, "ended")
        else:
            raise ClientMessageError("unknown_type", f"unknown message type {kind!r}")

    async def _on_start(self, msg: VCStartMessage) -> None:
        if self._start is not None:
            raise ClientMessageError("already_started", "this connection already has a call")
        converter = await open_converter(self._state, self._account, msg)
        session_id = uuid.uuid4().hex
        self._relay = await claim_channel(self._state, self._account, msg.broadcast, session_id)
        self._meter = await open_meter(self._state, self._ws, self._account, BILLING_OPERATION, msg.tag,
                                       session_id, RATE_HZ, self._relay)
        self._session = VCSession(converter, self._state.worker, self._emit, rate_hz=RATE_HZ,
                                  max_backlog_ms=self._state.settings.vc_max_backlog_ms)
        self._start = msg
        started: dict[str, object] = {
            "type": "started", "session_id": session_id, "sample_rate": RATE_HZ, "engine": type(converter).__name__,
            "algorithmic_latency_ms": round(self._session.algorithmic_latency_ms, 1)}
        announce_relay(self._relay, started, kind="vc", sample_rate=RATE_HZ)
        await self._send.event(started)

    async def _on_offer(self, msg: OfferMessage) -> None:
        if self._session is None or self._tg is None:
            raise ClientMessageError("not_started", "send a 'start' message before the offer")
        if self._out is not None:
            raise ClientMessageError("already_connected", "this call already has a peer connection")
        address = self._state.settings.webrtc_ice_address
        sdp = keep_candidates_on(msg.sdp, address) if address else msg.sdp
        pc = self._sessions.create()
        self._pc = pc
        block = self._session.algorithmic_latency_ms
        self._out = ConvertedTrack(max_buffer_samples=int(RATE_HZ * (block + 120) / 1000))
        tg = self._tg

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                tg.create_task(self._pump(track))

        try:
            await asyncio.wait_for(pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer")),
                                   SIGNAL_TIMEOUT_S)
        except (ValueError, TypeError) as exc:
            raise ClientMessageError("invalid_sdp", f"the offer is not valid SDP: {exc}"[:200]) from None
        if not any(t.kind == "audio" for t in pc.getTransceivers()):
            raise ClientMessageError("invalid_sdp", "the offer has no audio track")
        for t in pc.getTransceivers():
            if t.kind == "audio":
                t.sender.replaceTrack(self._out)
                t.direction = "sendrecv"
        if address:
            await gather_only_on(pc, address)
        answer = await pc.createAnswer()
        await asyncio.wait_for(pc.setLocalDescription(answer), SIGNAL_TIMEOUT_S)
        await self._send.event({"type": "answer", "sdp": pc.localDescription.sdp})
        tg.create_task(self._run_session())

    async def _on_candidate(self, data: dict[str, Any]) -> None:
        if self._pc is None:
            raise ClientMessageError("not_connected", "send the offer before candidates")
        line = str(data.get("candidate") or "").removeprefix("candidate:").strip()
        if not line:
            return
        try:
            candidate = candidate_from_sdp(line)
        except (ValueError, IndexError):
            raise ClientMessageError("invalid_candidate", "unreadable ICE candidate") from None
        address = self._state.settings.webrtc_ice_address
        if address and candidate.ip != address:
            return
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        await self._pc.addIceCandidate(candidate)

    async def _pump(self, track: MediaStreamTrack) -> None:
        assert self._session is not None
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=RATE_HZ)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self._session.end()
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for f in to_mono.resample(frame):
                self._session.push(f.to_ndarray().reshape(-1).astype(np.float32) / 32768.0)

    async def _run_session(self) -> None:
        assert self._session is not None
        await run_to_close(self._send, self._session.run(), label="webrtc call", close_when_done=False,
                           engine_close_code=CLOSE_POLICY)

    async def _emit(self, frame: VCOutput) -> None:
        if isinstance(frame, AudioFrame) and self._out is not None:
            samples = frame.samples
            if self._meter is not None:
                samples = samples[: await self._meter.admit(len(samples))]
            self._out.feed(samples)
            if self._relay is not None and len(samples):
                self._relay.publish(float_to_pcm(samples))
            if self._meter is not None:
                usage = await self._meter.delivered(len(samples))
                if usage.report:
                    await self._send.event(usage.event())
                if usage.exhausted:
                    raise CreditsExhausted()
        elif isinstance(frame, VCStatsFrame):
            event = frame.event()
            if self._out is not None:
                event["underruns"] = self._out.underruns
                event["playout_dropped_ms"] = round(1000 * self._out.dropped_samples / RATE_HZ, 1)
            await self._send.event(event)
        elif isinstance(frame, DoneFrame):
            await self._send.event({"type": "done", "audio_ms": frame.audio_ms})


@router.websocket("/v1/webrtc/signal")
async def webrtc_signal(ws: WebSocket) -> None:
    if (auth := await accept_authenticated(ws)) is not None:
        state, account = auth
        with contextlib.suppress(WebSocketDisconnect):
            await WebRTCCall(ws, state, account, state.webrtc).serve()
