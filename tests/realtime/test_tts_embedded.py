"""The whole path on the real embedded engines: account → voice upload → streamed synthesis in every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REFERENCE_TEXT, create_account, decode_bytes, espeak_wav, upload_voice
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import RunningServer

TEXTS = {
    "pt-BR": "Olá, pessoal! Sejam bem-vindos à live de hoje. Não esqueçam de seguir o canal.",
    "es": "¡Hola a todos! Bienvenidos al directo de hoy. No olviden seguir el canal.",
    "en": "Hello everyone! Welcome to today's stream. Don't forget to follow the channel.",
}


@pytest.fixture(scope="module")
def voices(server: RunningServer, samples_dir: Path) -> tuple[str, dict[str, str]]:
    key, headers = create_account(server)
    ids = {}
    for language in TEXTS:
        wav = espeak_wav(samples_dir / f"emb-{language}.wav", REFERENCE_TEXT[language], language, pitch=75)
        ids[language] = str(upload_voice(server, headers, wav, language=language,
                                         reference_text=REFERENCE_TEXT[language])["id"])
    return key, ids


async def _speak(server: RunningServer, key: str, start: dict[str, object], text: str) -> tuple[bytes, list]:
    async with connect(server, key) as ws:
        await send(ws, type="start", **start)
        assert (await next_event(ws, 60))["type"] == "started"
        for word in text.split(" "):
            await send(ws, type="text", text=word + " ")
        await send(ws, type="end")
        got = await collect(ws)
    assert got.close_code == 1000, got.events
    assert not got.of_type("error"), got.of_type("error")
    return bytes(got.audio), got.timeline


CASES = [("pt-BR", "pcm_s16le", 24000), ("pt-BR", "wav", 16000), ("pt-BR", "ogg_opus", 48000),
         ("pt-BR", "mp3", 44100), ("es", "pcm_s16le", 24000), ("es", "ogg_opus", 24000),
         ("en", "pcm_s16le", 24000), ("en", "mp3", 22050)]


@pytest.mark.parametrize(("language", "fmt", "rate"), CASES)
async def test_every_language_and_format(server: RunningServer, voices: tuple[str, dict[str, str]],
                                         language: str, fmt: str, rate: int) -> None:
    key, ids = voices
    audio, timeline = await _speak(server, key, {"voice_id": ids[language], "format": fmt, "sample_rate": rate},
                                   TEXTS[language])
    if fmt == "pcm_s16le":
        samples, out_rate = np.frombuffer(audio, "<i2").astype(np.float32) / 32768, rate
    else:
        samples, out_rate = decode_bytes(audio)
        if fmt != "ogg_opus":
            assert out_rate == rate
    duration_s = len(samples) / out_rate
    assert 2.0 < duration_s < 15.0, duration_s
    rms_frames = np.sqrt(np.mean(samples[: len(samples) // 480 * 480].reshape(-1, 480) ** 2, axis=1))
    assert float(np.mean(rms_frames > 0.01)) > 0.3, "mostly silent output"
    assert np.all(np.isfinite(samples))
    if fmt in ("pcm_s16le", "wav"):
        clipped = float(np.mean(np.abs(samples) >= 32767 / 32768))
        assert clipped < 0.001, f"{clipped:.2%} of samples clipped"


async def test_first_audio_before_last_sentence_is_synthesized(
    server: RunningServer, voices: tuple[str, dict[str, str]]
) -> None:
    key, ids = voices
    _, timeline = await _speak(server, key, {"voice_id": ids["en"]}, TEXTS["en"])
    kinds = [(kind, what) for kind, what, _ in timeline]
    first_audio = kinds.index(("audio", next(w for k, w in kinds if k == "audio")))
    segment_positions = [i for i, (k, w) in enumerate(kinds) if w == "segment"]
    assert len(segment_positions) == 3
    assert first_audio < segment_positions[0] < segment_positions[-1]
    audio_between = [k for k, _ in kinds[segment_positions[0]:segment_positions[-1]] if k == "audio"]
    assert audio_between, "audio of later sentences must stream too"


async def test_pitch_and_speed_change_output(server: RunningServer, voices: tuple[str, dict[str, str]]) -> None:
    key, ids = voices
    text = "Vamos medir a duração desta frase."
    normal, _ = await _speak(server, key, {"voice_id": ids["pt-BR"]}, text)
    fast, _ = await _speak(server, key, {"voice_id": ids["pt-BR"], "speed": 2.0}, text)
    assert len(fast) < 0.75 * len(normal)
    low, _ = await _speak(server, key, {"voice_id": ids["pt-BR"], "pitch": -12}, text)
    assert _median_f0(low) < 0.75 * _median_f0(normal)


def _median_f0(pcm: bytes) -> float:
    import pyworld

    x = (np.frombuffer(pcm, "<i2").astype(np.float64) / 32768)
    f0, _ = pyworld.dio(x, 24000, frame_period=10)
    voiced = f0[f0 > 0]
    assert len(voiced) > 10
    return float(np.median(voiced))
