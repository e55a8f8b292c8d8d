"""WebRTC live conversion with aiortc; signaling (offer/answer, candidates, events) over WebSocket /v1/webrtc/signal.

Client → server: ``{"type":"start", voice_id, pitch_shift, block_ms, engine, tag}`` then ``{"type":"offer","sdp"}``
(non-trickle: candidates inside the SDP; extra ``{"type":"candidate","candidate"}`` lines are accepted).
Server → client: ``started``, ``answer``, ``stats`` every second, ``usage``, ``error``, ``done``.
The peer's microphone track is converted and sent back on one audio track, paced in 20 ms frames (48 kHz, Opus).
Closing the signaling socket ends the call. Every stage has a deadline: the offer within ``webrtc_idle_timeout_s`` of
connecting (and of ``start``), ``connected`` within ``webrtc_connect_timeout_s`` of the answer, then audio at least
every ``webrtc_media_timeout_s``; a missed one ends the call with an ``error`` event and close 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.types import Message

from billing.accounts import Account
from billing.stream_meter import CreditsExhausted, SampleMeter
from realtime.drain import CLOSE_SERVICE_RESTART
from realtime.frames import AudioFrame, DoneFrame
from realtime.pipeline.broadcast import BroadcastSource
from realtime.pipeline.vc_session import VCOutput, VCSession, VCStatsFrame
from realtime.pipeline.vc_start import BILLING_OPERATION, VCStartMessage, open_converter
from realtime.state import AppState
from realtime.transports.audio_codecs import float_to_pcm
from realtime.transports.webrtc_media import RATE_HZ, ConvertedTrack, WebRTCSessions, gather_only_on, keep_candidates_on
from realtime.transports.webrtc_signalling import (
    CandidateMessage,
    check_candidate,
    parse_candidate_message,
    parse_offer,
)
from realtime.transports.ws_common import (
    CLOSE_IDLE,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    ClientMessageError,
    ClientTooSlow,
    EventSender,
    accept_authenticated,
    announce_relay,
    claim_channel,
    open_meter,
    parse_json_message,
    quiet_disconnects,
    run_to_close,
    validate,
)

__all__ = ["WebRTCSessions", "gather_only_on", "keep_candidates_on", "router"]

router = APIRouter()
log = logging.getLogger(__name__)

SIGNAL_TIMEOUT_S = 30.0
MAX_TRICKLED_CANDIDATES = 32


class WebRTCCall:
    """One signalling socket = one call. Every task of the call lives in the call's TaskGroup; the signalling loop
    owns the end: when it stops (hang-up, timeout, shutdown) the media tasks are cancelled and the peer connection
    is closed, so nothing outlives the socket."""

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
        self._signal_task: asyncio.Task[None] | None = None
        self._media_tasks: list[asyncio.Task[None]] = []
        self._offer_deadline: float | None = None  # loop time; None once the offer was answered
        self._state_changed = asyncio.Event()
        self._candidates = 0
        self._ended = False  # hang-up under way: no more events, audio or charges

    async def serve(self) -> None:
        self._offer_deadline = self._idle_deadline()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._signal_task = tg.create_task(self._signal_loop())
        finally:
            self._end_call()
            await self._hang_up()
            if self._relay is not None:
                self._relay.end()
            if self._meter is not None:
                with contextlib.suppress(Exception):
                    await self._meter.meter.close()

    def _idle_deadline(self) -> float:
        return asyncio.get_running_loop().time() + self._state.settings.webrtc_idle_timeout_s

    async def _signal_loop(self) -> None:
        try:
            while not self._ended and (message := await self._receive()) is not None:
                try:
                    if message.get("bytes") is not None:
                        raise ClientMessageError("unexpected_binary", "signaling takes JSON text messages only")
                    await self._handle(parse_json_message(message.get("text") or ""))
                except ClientMessageError as exc:
                    await self._event({"type": "error", "code": exc.code, "message": exc.message})
                    if exc.close_code is not None:
                        await self._send.close(exc.close_code, exc.code)
                        return
        except ClientTooSlow:
            log.warning("webrtc call: client stopped reading; dropped")
        except Exception:
            log.exception("webrtc signalling failed")
            await self._fail("internal_error", "the call failed unexpectedly", CLOSE_INTERNAL)
        finally:
            # The socket is the call: closing the peer connection ends the pump (its track stops) and the session.
            self._end_call()
            await self._hang_up()

    async def _receive(self) -> Message | None:
        """The next client message; None once the socket is closed or the offer is overdue."""
        try:
            async with asyncio.timeout_at(self._offer_deadline):
                message = await self._ws.receive()
        except TimeoutError:
            timeout_s = self._state.settings.webrtc_idle_timeout_s
            await self._fail("idle_timeout", f"no start and offer within {timeout_s:.0f} s", CLOSE_IDLE)
            return None
        return None if message["type"] == "websocket.disconnect" or self._ended else message

    def _end_call(self) -> None:
        self._ended = True
        if self._session is not None:
            self._session.end()
        if self._out is not None:
            self._out.stop()
        current = asyncio.current_task()
        for task in self._media_tasks:
            if task is not current:
                task.cancel()

    async def _fail(self, code: str, message: str, close_code: int) -> None:
        """End the call from any of its tasks: an ``error`` event, the close code, then the signalling loop stops."""
        if self._ended:
            return
        log.info("webrtc call ended: %s", code)
        with contextlib.suppress(Exception):  # a client too slow to take the error is dropped all the same
            await self._event({"type": "error", "code": code, "message": message})
        self._ended = True
        with contextlib.suppress(Exception):
            await self._send.close(close_code, code)
        if self._signal_task is not None and self._signal_task is not asyncio.current_task():
            self._signal_task.cancel()

    async def _event(self, payload: dict[str, Any]) -> None:
        if self._ended or not self._send.open:
            return
        with contextlib.suppress(WebSocketDisconnect):  # the peer hung up meanwhile: nobody to tell
            await self._send.event(payload)

    async def _hang_up(self) -> None:
        if self._out is not None:
            self._out.stop()
        if self._pc is not None:
            await self._sessions.release(self._pc)
            self._pc = None

    async def _handle(self, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "start":
            await self._on_start(validate(VCStartMessage, {**data, "sample_rate": RATE_HZ}))
            self._offer_deadline = self._idle_deadline()
        elif kind == "offer":
            await self._on_offer(data)
        elif kind == "candidate":
            await self._on_candidate(parse_candidate_message(data))
        elif kind == "end":
            self._ended = True
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
        await self._event(started)

    async def _on_offer(self, data: dict[str, Any]) -> None:
        if self._session is None or self._tg is None:
            raise ClientMessageError("not_started", "send a 'start' message before the offer")
        if self._pc is not None:
            raise ClientMessageError("already_connected", "this call already has a peer connection")
        msg = parse_offer(data, self._state.settings.webrtc_max_sdp_bytes)
        address = self._state.settings.webrtc_ice_address
        sdp = keep_candidates_on(msg.sdp, address) if address else msg.sdp
        block = self._session.algorithmic_latency_ms
        out = ConvertedTrack(max_buffer_samples=int(RATE_HZ * (block + 120) / 1000))
        pc = self._sessions.create()
        try:
            track, answer = await self._negotiate(pc, sdp, out, address)
        except BaseException:
            out.stop()
            await self._sessions.release(pc)
            raise
        self._pc, self._out, self._offer_deadline = pc, out, None
        await self._event({"type": "answer", "sdp": answer})
        tg = self._tg
        tg.create_task(self._run_session())
        self._media_tasks += [tg.create_task(self._pump(track)), tg.create_task(self._watch(pc))]

    async def _negotiate(self, pc: RTCPeerConnection, sdp: str, out: ConvertedTrack,
                         address: str) -> tuple[MediaStreamTrack, str]:
        """Apply the offer and make the answer; whatever aiortc raises on the way is the offer's fault."""
        tracks: list[MediaStreamTrack] = []
        pc.on("track", tracks.append)
        pc.on("connectionstatechange", self._state_changed.set)
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT_S):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
                remote = [t for t in tracks if t.kind == "audio"]
                if len(audio) != 1 or not remote:
                    raise ClientMessageError("invalid_offer", "the offer needs one audio track")
                audio[0].sender.replaceTrack(out)
                audio[0].direction = "sendrecv"
                if address:
                    await gather_only_on(pc, address)
                await pc.setLocalDescription(await pc.createAnswer())
        except ClientMessageError:
            raise
        except TimeoutError:
            raise ClientMessageError("signalling_timeout", "the offer could not be answered in time") from None
        except Exception as exc:
            log.info("webrtc: offer refused: %s", type(exc).__name__)
            raise ClientMessageError("invalid_offer", f"the offer cannot be used: {exc}"[:200]) from None
        return remote[0], pc.localDescription.sdp

    async def _on_candidate(self, msg: CandidateMessage) -> None:
        if self._pc is None:
            raise ClientMessageError("not_connected", "send the offer before candidates")
        if not msg.candidate.strip():
            return  # end of candidates
        line = check_candidate(msg.candidate)
        self._candidates += 1
        if self._candidates > MAX_TRICKLED_CANDIDATES:
            raise ClientMessageError("invalid_candidate", f"at most {MAX_TRICKLED_CANDIDATES} candidates per call")
        try:
            candidate = candidate_from_sdp(line)
        except (ValueError, IndexError):
            raise ClientMessageError("invalid_candidate", "unreadable ICE candidate") from None
        address = self._state.settings.webrtc_ice_address
        if address and candidate.ip != address:
            return
        candidate.sdpMid = msg.sdpMid
        candidate.sdpMLineIndex = msg.sdpMLineIndex
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT_S):
                await self._pc.addIceCandidate(candidate)
        except Exception as exc:
            log.info("webrtc: candidate refused: %s", type(exc).__name__)
            raise ClientMessageError("invalid_candidate", f"the candidate cannot be used: {exc}"[:200]) from None

    async def _watch(self, pc: RTCPeerConnection) -> None:
        """Connected within the connect deadline, then until the connection fails; either miss ends the call."""
        timeout_s = self._state.settings.webrtc_connect_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                draining = await self._connected_or_draining(pc)
        except TimeoutError:
            await self._fail("connect_timeout", f"the peer connection did not connect within {timeout_s:.0f} s",
                             CLOSE_IDLE)
            return
        if draining:
            # A call that carries no audio yet has nothing to finish: it must not hold a draining server up.
            await self._fail("server_draining", "the server is restarting; call again", CLOSE_SERVICE_RESTART)
            return
        if pc.connectionState != "connected":
            await self._fail("ice_failed", "ICE found no working path to the peer", CLOSE_IDLE)
            return
        await self._wait_state(pc, {"failed", "closed"})
        if pc.connectionState == "failed":
            await self._fail("ice_failed", "the peer connection was lost", CLOSE_IDLE)

    async def _connected_or_draining(self, pc: RTCPeerConnection) -> bool:
        """Wait until the connection settles (connected, failed, closed); True if the server began draining first."""
        settled = asyncio.ensure_future(self._wait_state(pc, {"connected", "failed", "closed"}))
        drain = asyncio.ensure_future(self._state.drain.wait_begun())
        try:
            done, _ = await asyncio.wait({settled, drain}, return_when=asyncio.FIRST_COMPLETED)
            return settled not in done
        finally:
            for task in (settled, drain):
                task.cancel()
            await asyncio.gather(settled, drain, return_exceptions=True)

    async def _wait_state(self, pc: RTCPeerConnection, states: set[str]) -> None:
        while pc.connectionState not in states:
            await self._state_changed.wait()
            self._state_changed.clear()

    async def _pump(self, track: MediaStreamTrack) -> None:
        assert self._session is not None
        settings = self._state.settings
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=RATE_HZ)
        # Audio can only start once connected; that has its own deadline (``_watch``).
        timeout_s = settings.webrtc_connect_timeout_s + settings.webrtc_media_timeout_s
        while True:
            try:
                async with asyncio.timeout(timeout_s):
                    frame = await track.recv()
            except MediaStreamError:
                self._session.end()
                return
            except TimeoutError:
                await self._fail("media_timeout",
                                 f"no audio from the peer for {settings.webrtc_media_timeout_s:.0f} s", CLOSE_IDLE)
                return
            timeout_s = settings.webrtc_media_timeout_s
            if not isinstance(frame, av.AudioFrame):
                continue
            try:
                for f in to_mono.resample(frame):
                    self._session.push(f.to_ndarray().reshape(-1).astype(np.float32) / 32768.0)
            except (av.FFmpegError, ValueError) as exc:  # a frame the peer's codec settings make unusable
                log.warning("webrtc: unusable audio frame: %s", type(exc).__name__)
                await self._fail("invalid_media", "the peer's audio cannot be decoded", CLOSE_POLICY)
                return

    async def _run_session(self) -> None:
        assert self._session is not None
        await run_to_close(self._send, self._session.run(), label="webrtc call", engine_close_code=CLOSE_POLICY)
        # The session is over (the peer's track ended, credits, a failure), and with it the call.
        if not self._ended:
            self._ended = True
            if self._signal_task is not None:
                self._signal_task.cancel()

    async def _emit(self, frame: VCOutput) -> None:
        if self._ended:
            return  # hung up: what the converter still flushes reaches nobody and is not billed
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
                    await self._event(usage.event())
                if usage.exhausted:
                    raise CreditsExhausted()
        elif isinstance(frame, VCStatsFrame):
            event = frame.event()
            if self._out is not None:
                event["underruns"] = self._out.underruns
                event["playout_dropped_ms"] = round(1000 * self._out.dropped_samples / RATE_HZ, 1)
            await self._event(event)
        elif isinstance(frame, DoneFrame):
            await self._event({"type": "done", "audio_ms": frame.audio_ms})


@router.websocket("/v1/webrtc/signal")
@quiet_disconnects
async def webrtc_signal(ws: WebSocket) -> None:
    if (auth := await accept_authenticated(ws)) is not None:
        state, account = auth
        with contextlib.suppress(WebSocketDisconnect):
            await WebRTCCall(ws, state, account, state.webrtc).serve()
