"""WebRTC round trip with a real aiortc peer over loopback: signaling on /v1/webrtc/signal, mic track converted."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Iterator

import av
import numpy as np
import parselmouth
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from realtime.transports.webrtc import gather_only_on, keep_candidates_on
from tests.realtime.vc_support import VCSetup, connect, next_event, start_vc_server

RATE = 48000
FRAME = 960


@pytest.fixture(scope="module")
def vc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCSetup]:
    yield from start_vc_server(tmp_path_factory.mktemp("rtc"))


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, freq_hz: float) -> None:
        super().__init__()
        self._freq = freq_hz
        self._pts = 0
        self._t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (self._pts + np.arange(FRAME)) / RATE
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * self._freq * t)).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._pts, fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


async def _call(vc: VCSetup, voice_id: str, pitch_shift: float, seconds: float) -> tuple[np.ndarray, list[dict]]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received: list[np.ndarray] = []
    events: list[dict] = []
    got_track = asyncio.Event()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def read() -> None:
            mono = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                for f in mono.resample(frame):
                    received.append(f.to_ndarray().reshape(-1).astype(np.float32) / 32768)

        got_track.set()
        tasks.append(asyncio.ensure_future(read()))

    tasks: list[asyncio.Future[None]] = []
    pc.addTrack(ToneTrack(180.0))
    try:
        async with connect(vc.server, vc.api_key, "/v1/webrtc/signal") as ws:
            await ws.send(json.dumps({"type": "start", "voice_id": voice_id, "pitch_shift": pitch_shift}))
            started = await next_event(ws)
            assert started["type"] == "started", started
            await gather_only_on(pc, "127.0.0.1")
            await pc.setLocalDescription(await pc.createOffer())
            assert "127.0.0.1" in pc.localDescription.sdp
            await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
            answer = await next_event(ws)
            assert answer["type"] == "answer", answer
            assert all(ln.split(" ")[4] == "127.0.0.1" for ln in answer["sdp"].split("\r\n")
                       if ln.startswith("a=candidate:"))
            await pc.setRemoteDescription(RTCSessionDescription(keep_candidates_on(answer["sdp"], "127.0.0.1"),
                                                                "answer"))
            await asyncio.wait_for(got_track.wait(), 20)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.recv(), timeout=max(0.05, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if isinstance(msg, str):
                    events.append(json.loads(msg))
    finally:
        await pc.close()
        for t in tasks:
            t.cancel()
    return (np.concatenate(received) if received else np.zeros(0, np.float32)), events


def _f0(x: np.ndarray) -> float:
    f = parselmouth.Sound(x.astype(np.float64), RATE).to_pitch().selected_array["frequency"]
    return float(np.median(f[f > 0])) if np.any(f > 0) else 0.0


async def test_aiortc_peer_receives_converted_audio(vc: VCSetup) -> None:
    audio, events = await _call(vc, vc.rvc_voice_id, 12, 4.0)
    assert len(audio) > RATE * 2
    voiced = audio[RATE:]
    assert np.sqrt(np.mean(voiced ** 2)) > 0.005
    # tiny RVC follows F0; +12 semitones doubles the tone (Opus and the jitter buffer in between).
    assert abs(_f0(voiced) / 360 - 1) < 0.06
    stats = [e for e in events if e["type"] == "stats"]
    assert stats and stats[-1]["input_ms"] > 1000 and stats[-1]["output_ms"] > 1000


async def test_signaling_errors(vc: VCSetup) -> None:
    async with connect(vc.server, vc.api_key, "/v1/webrtc/signal") as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": "v=0"}))
        assert (await next_event(ws))["code"] == "not_started"
        await ws.send(json.dumps({"type": "start", "voice_id": "00000000-0000-0000-0000-000000000000"}))
        assert (await next_event(ws))["code"] == "voice_not_found"
        await ws.send(json.dumps({"type": "start", "voice_id": vc.voice_id}))
        assert (await next_event(ws))["type"] == "started"
        await ws.send(json.dumps({"type": "offer", "sdp": "this is not sdp"}))
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] in ("invalid_sdp", "already_connected"), event
