"""Language detection for starts with neither a language nor a voice, and the speed/pitch range edges (fake engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import create_account, espeak_wav, upload_voice
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import RunningServer


async def _segments(server: RunningServer, key: str, start: dict[str, object], text: str) -> tuple[dict, list]:
    async with connect(server, key) as ws:
        await send(ws, type="start", **start)
        started = await next_event(ws)
        assert started["type"] == "started", started
        await send(ws, type="text", text=text)
        await send(ws, type="end")
        got = await collect(ws)
    assert not got.of_type("error"), got.of_type("error")
    return started, got.of_type("segment")


@pytest.mark.parametrize(("text", "language"), [
    ("Bom dia, pessoal! Obrigado por assistirem à transmissão de hoje. Até amanhã.", "pt-BR"),
    ("¡Buenos días a todos! Gracias por ver la transmisión de hoy. Hasta mañana.", "es"),
    ("Good morning, everyone! Thanks for watching today's stream. See you tomorrow.", "en"),
])
async def test_language_is_detected_from_the_first_sentence(fake_server: RunningServer, text: str,
                                                            language: str) -> None:
    key, _ = create_account(fake_server)
    started, segments = await _segments(fake_server, key, {}, text)
    assert started["language"] is None
    assert len(segments) == 3 and {s["language"] for s in segments} == {language}


async def test_first_sentence_decides_for_the_whole_stream(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    _, segments = await _segments(fake_server, key, {}, "Hola, ¿qué tal estás hoy? Thank you very much.")
    assert [s["language"] for s in segments] == ["es", "es"]


async def test_given_language_and_voice_language_win(fake_server: RunningServer, samples_dir: Path) -> None:
    key, headers = create_account(fake_server)
    started, segments = await _segments(fake_server, key, {"language": "es"}, "Good morning, everyone.")
    assert started["language"] == "es" and segments[0]["language"] == "es"
    wav = espeak_wav(samples_dir / "lang-voice-en.wav", "Hello everyone, this is my voice, slowly and clearly.", "en")
    voice = upload_voice(fake_server, headers, wav, language="en")
    started, segments = await _segments(fake_server, key, {"voice_id": voice["id"]}, "Bom dia a todos, pessoal.")
    assert started["language"] == "en" and segments[0]["language"] == "en"


@pytest.mark.parametrize(("speed", "pitch"), [(0.25, -20), (4.0, 20)])
async def test_speed_and_pitch_range_edges_are_accepted(fake_server: RunningServer, speed: float,
                                                        pitch: float) -> None:
    key, _ = create_account(fake_server)
    _, segments = await _segments(fake_server, key, {"language": "en", "speed": speed, "pitch": pitch},
                                  "Hello there.")
    assert segments[0]["duration_ms"] > 0
