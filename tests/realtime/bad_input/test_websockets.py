"""Every WebSocket endpoint fed hostile frames for each message type it takes, before and after a valid ``start``:
each gets an ``error`` event with a code or a documented close code (never 1006 or 1011), the server stays
healthy, and nothing is billed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from realtime.pipeline.vc_start import VCStartMessage
from realtime.transports.webrtc_signalling import CandidateMessage, OfferMessage
from realtime.transports.ws_common import AckMessage
from realtime.transports.ws_tts import StartMessage, TextMessage
from tests.helpers import create_account, espeak_wav, upload_voice
from tests.realtime.bad_input.ws_cases import Frame, bare_frames, junk_frames, message_frames
from tests.servers import RunningServer

ANSWER_TIMEOUT_S = 15.0
# 1008 policy, 1009 a frame over 1 MiB (docs/protocol.md); 4xxx are ours.
DOCUMENTED_CLOSES = {1008, 1009}
TTS_START = {"type": "start", "language": "pt-BR"}


def _ok_close(code: int | None) -> bool:
    return code is not None and (code in DOCUMENTED_CLOSES or 4000 <= code < 5000)


async def _probe(url: str, setup: list[dict[str, Any]], ready: str, frame: Frame) -> str | None:
    """None when ``frame`` is answered clearly; otherwise what went wrong."""
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=5) as ws:
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                for message in setup:
                    await ws.send(json.dumps(message))
                while setup or ready == "listening":
                    event = json.loads(await ws.recv())
                    if event["type"] == "error":
                        return f"set-up refused: {event}"
                    if event["type"] == ready:
                        break
                await ws.send(frame.data)
                while True:
                    raw = await ws.recv()
                    if isinstance(raw, bytes):
                        return f"audio after a hostile frame ({len(raw)} bytes)"
                    event = json.loads(raw)
                    if event["type"] == "error":
                        return None if isinstance(event.get("code"), str) and event["code"] else f"bad error {event}"
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            return None if _ok_close(code) else f"closed with {code} and no error event"
        except TimeoutError:
            return "no answer"


def _tts_frames() -> Iterator[tuple[bool, Frame]]:
    """(after a valid start?, frame)"""
    for frame in message_frames(StartMessage, TTS_START):
        yield False, frame
    for model, valid in ((TextMessage, {"type": "text", "text": "oi"}), (AckMessage, {"type": "ack", "bytes": 0})):
        for frame in message_frames(model, valid):
            yield True, frame
    for kind in ("flush", "end"):
        for frame in bare_frames(kind):
            yield True, frame
    for after_start in (False, True):
        for frame in junk_frames():
            yield after_start, frame


def _vc_frames(voice_id: str) -> Iterator[tuple[bool, Frame]]:
    for frame in message_frames(VCStartMessage, {"type": "start", "voice_id": voice_id}):
        yield False, frame
    for frame in message_frames(AckMessage, {"type": "ack", "bytes": 0}):
        yield True, frame
    for frame in bare_frames("end"):
        yield True, frame
    for after_start in (False, True):
        for frame in junk_frames():
            if after_start and isinstance(frame.data, bytes) and len(frame.data) < 1024:
                continue  # a small binary frame after start is audio
            yield after_start, frame


def _webrtc_frames(voice_id: str) -> Iterator[tuple[bool, Frame]]:
    for frame in message_frames(VCStartMessage, {"type": "start", "voice_id": voice_id}):
        if not frame.label.startswith(("start.sample_rate", "start.format")):  # fixed for WebRTC
            yield False, frame
    for model, valid in ((OfferMessage, {"type": "offer", "sdp": "v=0"}),
                         (CandidateMessage, {"type": "candidate", "candidate": ""})):
        for frame in message_frames(model, valid):
            yield True, frame
    for frame in bare_frames("end"):
        yield True, frame
    for after_start in (False, True):
        for frame in junk_frames():
            yield after_start, frame


@pytest.fixture(scope="module")
def account(hostile_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, float]:
    key, headers = create_account(hostile_server)
    wav = espeak_wav(tmp_path_factory.mktemp("ws-voice") / "v.wav",
                     "Olá, pessoal! Hoje vamos testar a minha voz clonada ao vivo, com calma e clareza.")
    voice = upload_voice(hostile_server, headers, wav)
    credits = httpx.get(f"{hostile_server.base_url}/v1/account", headers=headers).json()["credits"]
    return key, str(voice["id"]), float(credits)


async def _run(server: RunningServer, path: str, start: dict[str, Any] | None, ready: str,
               frames: Iterator[tuple[bool, Frame]], key: str) -> None:
    url = f"{server.ws_url}{path}?api_key={key}" + ("&channel=obs" if ready == "listening" else "")
    failures: list[str] = []
    tried = 0
    for after_start, frame in frames:
        tried += 1
        setup = [start] if after_start and start is not None else []
        try:
            problem = await _probe(url, setup, ready, frame)
        except OSError as exc:
            problem = f"connection failed: {exc!r}"
        if problem is not None:
            failures.append(f"{path} {'after start' if setup else 'first'}: {frame.label}: {problem}")
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{server.base_url}/healthz")).status_code == 200
    assert not failures, f"{len(failures)} of {tried} hostile frames were not answered clearly:\n" + "\n".join(failures)
    assert tried > 20


async def test_tts_stream(hostile_server: RunningServer, account: tuple[str, str, float]) -> None:
    await _run(hostile_server, "/v1/tts/stream", TTS_START, "started", _tts_frames(), account[0])


async def test_vc_stream(hostile_server: RunningServer, account: tuple[str, str, float]) -> None:
    key, voice_id, _ = account
    await _run(hostile_server, "/v1/vc/stream", {"type": "start", "voice_id": voice_id}, "started",
               _vc_frames(voice_id), key)


async def test_webrtc_signal(hostile_server: RunningServer, account: tuple[str, str, float]) -> None:
    key, voice_id, _ = account
    await _run(hostile_server, "/v1/webrtc/signal", {"type": "start", "voice_id": voice_id}, "started",
               _webrtc_frames(voice_id), key)


async def test_tts_listen(hostile_server: RunningServer, account: tuple[str, str, float]) -> None:
    frames = ((False, f) for f in [*junk_frames(), *message_frames(StartMessage, TTS_START)])
    await _run(hostile_server, "/v1/tts/listen", None, "listening", frames, account[0])


def test_nothing_was_billed(hostile_server: RunningServer, account: tuple[str, str, float]) -> None:
    key, _, credits_before = account
    after = httpx.get(f"{hostile_server.base_url}/v1/account", headers={"Authorization": f"Bearer {key}"}).json()
    assert after["credits"] == credits_before
