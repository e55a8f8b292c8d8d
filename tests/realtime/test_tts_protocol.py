"""The TTS WebSocket protocol on the deterministic tone engine: formats, ordering, control and every bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.helpers import REFERENCE_TEXT, create_account, decode_bytes, espeak_wav, upload_voice
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import RunningServer, run_server

THREE_SENTENCES = "Primeira frase curta. Agora a segunda frase! E a terceira, que termina aqui?"


async def _first_audio(ws: ClientConnection, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not isinstance(await ws.recv(), bytes):
            pass


@pytest.fixture(scope="module")
def account(fake_server: RunningServer, samples_dir: Path) -> tuple[str, str]:
    key, headers = create_account(fake_server)
    wav = espeak_wav(samples_dir / "proto-ref.wav", REFERENCE_TEXT["pt-BR"])
    voice = upload_voice(fake_server, headers, wav)
    return key, str(voice["id"])


@pytest.mark.parametrize(("fmt", "rate"), [("pcm_s16le", 24000), ("pcm_s16le", 8000), ("wav", 44100),
                                           ("ogg_opus", 48000), ("mp3", 22050)])
async def test_formats_and_order(fake_server: RunningServer, account: tuple[str, str], fmt: str, rate: int) -> None:
    key, voice_id = account
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", voice_id=voice_id, format=fmt, sample_rate=rate)
        started = await next_event(ws)
        assert started["type"] == "started" and started["format"] == fmt and started["sample_rate"] == rate
        for word in THREE_SENTENCES.split(" "):
            await send(ws, type="text", text=word + " ")
        await send(ws, type="end")
        got = await collect(ws)
    assert got.close_code == 1000
    segments = got.of_type("segment")
    assert [s["index"] for s in segments] == [0, 1, 2]
    assert segments[1]["text"] == "Agora a segunda frase!"
    assert segments[1]["start_ms"] == segments[0]["start_ms"] + segments[0]["duration_ms"]
    done = got.of_type("done")
    assert len(done) == 1 and got.events[-1]["type"] == "done"
    expected_ms = sum(s["duration_ms"] for s in segments)
    assert abs(done[0]["audio_ms"] - expected_ms) <= 3
    if fmt == "pcm_s16le":
        audio = np.frombuffer(bytes(got.audio), "<i2").astype(np.float32) / 32768
        out_rate = rate
    else:
        audio, out_rate = decode_bytes(bytes(got.audio))
        if fmt != "ogg_opus":
            assert out_rate == rate
    duration_ms = 1000 * len(audio) / out_rate
    assert abs(duration_ms - expected_ms) < 80, (duration_ms, expected_ms)
    assert float(np.sqrt(np.mean(audio**2))) > 0.05
    first_audio = next(i for i, item in enumerate(got.timeline) if item[0] == "audio")
    first_segment = next(i for i, item in enumerate(got.timeline) if item[1] == "segment")
    assert first_audio < first_segment


async def test_flush_speaks_without_punctuation(fake_server: RunningServer, account: tuple[str, str]) -> None:
    key, voice_id = account
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", voice_id=voice_id)
        await next_event(ws)
        await send(ws, type="text", text="sem pontuação nenhuma")
        await send(ws, type="flush")
        segment = await next_event(ws)
        assert segment["type"] == "segment" and segment["text"] == "sem pontuação nenhuma"
        await send(ws, type="end")
        got = await collect(ws)
    assert got.events[-1]["type"] == "done"


async def test_cancel_drops_queued_text(fake_server: RunningServer, account: tuple[str, str]) -> None:
    key, voice_id = account
    long_text = " ".join(f"Frase numero {i} que ainda vai demorar bastante para terminar." for i in range(30))
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", voice_id=voice_id)
        await next_event(ws)
        await send(ws, type="text", text=long_text)
        await _first_audio(ws)  # cancel while a sentence is being spoken, with more queued behind it
        await send(ws, type="cancel")
        cancelled = await next_event(ws)
        while cancelled["type"] == "segment":
            cancelled = await next_event(ws)
        assert cancelled["type"] == "cancelled"
        await send(ws, type="text", text="Depois do cancelamento.")
        await send(ws, type="end")
        got = await collect(ws)
    segments = got.of_type("segment")
    assert [s["text"] for s in segments] == ["Depois do cancelamento."]
    assert got.events[-1]["type"] == "done"


async def test_base_voice_without_voice_id(fake_server: RunningServer, account: tuple[str, str]) -> None:
    key, _ = account
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", language="en", speed=2.0, pitch=-12)
        assert (await next_event(ws))["type"] == "started"
        await send(ws, type="text", text="Hello there.")
        await send(ws, type="end")
        got = await collect(ws)
    assert got.of_type("segment")[0]["duration_ms"] > 0 and len(got.audio) > 0


BAD_STARTS = [
    ({"type": "start", "voice_id": "00000000-0000-0000-0000-000000000000"}, "voice_not_found"),
    ({"type": "start", "voice_id": "nope"}, "voice_not_found"),
    ({"type": "start", "language": "fr"}, "invalid_language"),
    ({"type": "start", "language": "en", "format": "flac"}, "invalid_message"),
    ({"type": "start", "language": "en", "sample_rate": 96000}, "invalid_message"),
    ({"type": "start", "language": "en", "sample_rate": 7999}, "invalid_message"),
    ({"type": "start", "language": "en", "format": "mp3", "sample_rate": 10000}, "invalid_sample_rate"),
    ({"type": "start", "language": "en", "speed": 4.01}, "invalid_message"),
    ({"type": "start", "language": "en", "speed": 0.24}, "invalid_message"),
    ({"type": "start", "language": "en", "pitch": 20.5}, "invalid_message"),
    ({"type": "start", "language": "en", "pitch": -20.5}, "invalid_message"),
    ({"type": "start", "language": "en", "pitch": "high"}, "invalid_message"),
    ({"type": "start", "language": "en", "colour": "blue"}, "invalid_message"),
]


async def test_bad_messages_keep_session_alive(fake_server: RunningServer, account: tuple[str, str]) -> None:
    key, voice_id = account
    async with connect(fake_server, key) as ws:
        await ws.send("{not json")
        assert (await next_event(ws))["code"] == "invalid_json"
        await ws.send("[1, 2]")
        assert (await next_event(ws))["code"] == "invalid_message"
        await ws.send(b"\x00\x01")
        assert (await next_event(ws))["code"] == "unexpected_binary"
        await send(ws, type="dance")
        assert (await next_event(ws))["code"] == "unknown_type"
        await send(ws, type="text", text="cedo demais")
        assert (await next_event(ws))["code"] == "not_started"
        for msg, code in BAD_STARTS:
            await ws.send(__import__("json").dumps(msg))
            event = await next_event(ws)
            assert event["type"] == "error" and event["code"] == code, (msg, event)
        await send(ws, type="start", voice_id=voice_id)
        assert (await next_event(ws))["type"] == "started"
        await send(ws, type="start", voice_id=voice_id)
        assert (await next_event(ws))["code"] == "already_started"
        await send(ws, type="text", text="x" * 5001)
        assert (await next_event(ws))["code"] == "text_too_long"
        await send(ws, type="text", text=5)
        assert (await next_event(ws))["code"] == "invalid_message"
        await send(ws, type="text", text="Ainda estou aqui.")
        await send(ws, type="end")
        got = await collect(ws)
    assert [s["text"] for s in got.of_type("segment")] == ["Ainda estou aqui."]
    assert got.close_code == 1000


@pytest.mark.parametrize("query", ["", "?api_key=dbl_wrong"])
async def test_unauthorized(fake_server: RunningServer, query: str) -> None:
    async with websockets.connect(f"{fake_server.ws_url}/v1/tts/stream{query}") as ws:
        event = await next_event(ws)
        assert event["code"] == "unauthorized"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4401


async def test_bearer_header_auth(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with websockets.connect(f"{fake_server.ws_url}/v1/tts/stream",
                                  additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        await send(ws, type="start", language="es")
        assert (await next_event(ws))["type"] == "started"


async def _disconnect_mid_stream(server: RunningServer, wav: Path) -> None:
    import httpx

    key, headers = create_account(server)
    voice_id = upload_voice(server, headers, wav)["id"]
    for _ in range(3):
        async with connect(server, key) as ws:
            await send(ws, type="start", voice_id=voice_id)
            await next_event(ws)
            await send(ws, type="text", text="Uma frase longa o bastante para ainda estar tocando. " * 5)
            await _first_audio(ws)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.base_url}/healthz")).json()["status"] == "ok"


def test_client_disconnect_mid_stream_leaves_server_healthy(tmp_path: Path, samples_dir: Path) -> None:
    # Its own server: the log it reads holds only what these disconnects caused, complete once the server exited.
    wav = espeak_wav(samples_dir / "proto-disconnect-ref.wav", REFERENCE_TEXT["pt-BR"])
    with run_server(tmp_path, {"DUBLE_TTS_ENGINE": "fake"}, args=["--log-level", "info"]) as server:
        asyncio.run(_disconnect_mid_stream(server, wav))
    log = server.log()
    assert "connection open" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]
