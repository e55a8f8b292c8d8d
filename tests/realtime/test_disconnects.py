"""Clients that vanish mid-stream (a normal close while audio flows, or the TCP connection reset) and uploads cut
off mid-body, against a server with its own log: a disconnect is routine, so the log shows no traceback and no
"Exception in ASGI application", and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from billing.redis_client import connect_redis
from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime import ws_client
from tests.realtime.vc_support import to_pcm, tone
from tests.servers import REDIS_URL, RunningServer, run_server

LONG_TEXT = "Uma frase longa o bastante para ainda estar tocando quando o cliente some. " * 6
ROUNDS = 3
BAD_LOG_LINES = ("Traceback", "Exception in ASGI application", "Task exception was never retrieved", "ERROR")


def _connect(server: RunningServer, key: str, path: str) -> Any:
    sep = "&" if "?" in path else "?"
    return websockets.connect(f"{server.ws_url}{path}{sep}api_key={key}", max_size=None, open_timeout=10)


async def _first_audio(ws: Any, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not isinstance(await ws.recv(), bytes):
            pass


async def _event(ws: Any, kind: str, timeout_s: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.recv()
            if isinstance(msg, str) and (event := json.loads(msg))["type"] == kind:
                found: dict[str, Any] = event
                return found


def _reset(ws: Any) -> None:
    """Drop the TCP connection with a RST, no close frame: a client that crashed or lost its network."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def _vanish(ws: Any, abrupt: bool) -> None:
    if abrupt:
        _reset(ws)
    else:
        await ws.close()


async def _tts_mid_audio(server: RunningServer, key: str, abrupt: bool) -> None:
    ws = await _connect(server, key, "/v1/tts/stream")
    await ws.send(json.dumps({"type": "start", "language": "pt-BR"}))
    await _event(ws, "started")
    await ws.send(json.dumps({"type": "text", "text": LONG_TEXT}))
    await _first_audio(ws)
    await _vanish(ws, abrupt)


async def _vc_mid_audio(server: RunningServer, key: str, voice_id: str, abrupt: bool) -> None:
    ws = await _connect(server, key, "/v1/vc/stream")
    await ws.send(json.dumps({"type": "start", "voice_id": voice_id, "sample_rate": 16000}))
    await _event(ws, "started")
    pcm = to_pcm(tone(220, 2.0, 16000))
    for pos in range(0, len(pcm), 640):
        await ws.send(pcm[pos:pos + 640])
    await _first_audio(ws)
    await _vanish(ws, abrupt)


async def _listener_mid_relay(server: RunningServer, key: str, abrupt: bool) -> None:
    async with ws_client.connect(server, key) as speaker:  # the speaker acknowledges its audio, so it never stalls
        listener = await _connect(server, key, "/v1/tts/listen?channel=obs")
        await _event(listener, "listening")
        await speaker.send(json.dumps({"type": "start", "language": "pt-BR", "broadcast": "obs"}))
        await _event(speaker, "started")
        await speaker.send(json.dumps({"type": "text", "text": LONG_TEXT}))
        await _first_audio(listener)
        await _vanish(listener, abrupt)
        await speaker.send(json.dumps({"type": "cancel"}))
        await _event(speaker, "cancelled")


async def _vanish_right_after(server: RunningServer, key: str, path: str, message: dict[str, Any] | str) -> None:
    """Send one message and reset at once: the server answers (``started``, an ``error``) to a socket already gone."""
    ws = await _connect(server, key, path)
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    _reset(ws)


async def _vanish_before_auth_reply(server: RunningServer) -> None:
    for path in ("/v1/tts/stream", "/v1/vc/stream", "/v1/tts/listen", "/v1/webrtc/signal"):
        ws = await _connect(server, "wrong-key", path)
        _reset(ws)


def _upload_cut_off(server: RunningServer, headers: dict[str, str], wav: Path) -> None:
    """A multipart voice upload whose body stops halfway (the Content-Length promised more), then a reset."""
    boundary = "duble-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ncortada\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\npt-BR\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"v.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    audio = wav.read_bytes()
    body_len = len(head) + len(audio) + len(f"\r\n--{boundary}--\r\n")
    request = (f"POST /v1/voices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {headers['Authorization']}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {body_len}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request + head + audio[: len(audio) // 2])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _wait_no_live_sessions(server: RunningServer, timeout_s: float = 30) -> None:
    """Every stream the vanished clients had is over once the server has released its billing session."""
    redis = connect_redis(REDIS_URL)
    try:
        deadline = time.monotonic() + timeout_s
        while await redis.scard(f"{server.redis_prefix}bill:live"):
            assert time.monotonic() < deadline, "sessions of vanished clients are still live"
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()


async def _vanish_and_check(server: RunningServer, tmp_path: Path) -> None:
    key, headers = create_account(server)
    wav = espeak_wav(tmp_path / "ref.wav", REFERENCE_TEXT["pt-BR"])
    voice_id = str(upload_voice(server, headers, wav)["id"])
    for abrupt in (False, True):
        for _ in range(ROUNDS):
            await _tts_mid_audio(server, key, abrupt)
            await _vc_mid_audio(server, key, voice_id, abrupt)
            await _listener_mid_relay(server, key, abrupt)
        for path, message in [("/v1/tts/stream", {"type": "start", "language": "pt-BR"}),
                              ("/v1/tts/stream", "not json"),
                              ("/v1/vc/stream", {"type": "start", "voice_id": voice_id}),
                              ("/v1/vc/stream", {"type": "nope"}),
                              ("/v1/tts/listen?channel=obs", {"type": "text", "text": "oi"}),
                              ("/v1/webrtc/signal", {"type": "start", "voice_id": voice_id}),
                              ("/v1/webrtc/signal", "not json")]:
            await _vanish_right_after(server, key, path, message)
        await _vanish_before_auth_reply(server)
    for _ in range(ROUNDS):
        _upload_cut_off(server, headers, wav)
    await _wait_no_live_sessions(server)

    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.base_url}/healthz")).json()["status"] == "ok"
        voices = (await http.get(f"{server.base_url}/v1/voices", headers=headers)).json()["voices"]
    assert [v["name"] for v in voices] == ["minha voz"]  # no half-uploaded voice was stored
    async with _connect(server, key, "/v1/tts/stream") as ws:
        await ws.send(json.dumps({"type": "start", "language": "pt-BR"}))
        await _event(ws, "started")
        await ws.send(json.dumps({"type": "text", "text": "Ainda falo."}))
        await ws.send(json.dumps({"type": "end"}))
        await _event(ws, "done")


def test_vanishing_clients_leave_no_traceback_and_a_healthy_server(tmp_path: Path) -> None:
    with run_server(tmp_path, {"DUBLE_TTS_ENGINE": "fake"}, args=["--log-level", "info"]) as server:
        asyncio.run(_vanish_and_check(server, tmp_path))
    # The server has exited: its log is complete.
    log = server.log()
    assert "connection open" in log, "the log should be at info level"
    found = [line for line in log.splitlines() if any(bad in line for bad in BAD_LOG_LINES)]
    assert not found, "\n".join(found[:20]) + "\n...\n" + log[-6000:]
