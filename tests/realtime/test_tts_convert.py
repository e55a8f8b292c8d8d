"""TTS → RVC over the real /v1/tts/stream WebSocket: `"convert": true` runs the voice's tiny RVC model on the speech."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import parselmouth
import pytest

from tests.realtime.vc_support import VCSetup, start_vc_server
from tests.realtime.ws_client import Received, collect, connect, next_event, send

TWO_SENTENCES = "Primeira frase curta. E agora a segunda frase!"
FAKE_TONE_HZ = 220.0  # what the fake engine speaks at pitch 0
RATE = 24000


@pytest.fixture(scope="module")
def vc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCSetup]:
    yield from start_vc_server(tmp_path_factory.mktemp("tts-rvc"), {"DUBLE_TTS_ENGINE": "fake"})


async def _speak(vc: VCSetup, text: str, **start: object) -> Received:
    async with connect(vc.server, vc.api_key) as ws:
        await send(ws, type="start", format="pcm_s16le", sample_rate=RATE, **start)
        started = await next_event(ws)
        assert started["type"] == "started", started
        await send(ws, type="text", text=text)
        await send(ws, type="end")
        return await collect(ws)


def _audio(got: Received) -> np.ndarray:
    return np.frombuffer(bytes(got.audio), "<i2").astype(np.float32) / 32768


def _tone_share(x: np.ndarray, freq_hz: float) -> float:
    """Fraction of the energy within 20 Hz of ``freq_hz``: ~1 for the fake engine's pure tone."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spec[np.abs(freqs - freq_hz) < 20].sum() / spec.sum())


def _median_f0(x: np.ndarray) -> float:
    f = parselmouth.Sound(x.astype(np.float64), RATE).to_pitch().selected_array["frequency"]
    return float(np.median(f[f > 0]))


def _samples_before_each_segment(got: Received) -> list[int]:
    counts, total = [], 0
    for kind, value, _ in got.timeline:
        if kind == "audio":
            total += value // 2
        elif value == "segment":
            counts.append(total)
    return counts


async def test_convert_runs_the_voice_rvc_model_sentence_by_sentence(vc: VCSetup) -> None:
    plain = await _speak(vc, TWO_SENTENCES, voice_id=vc.rvc_voice_id)
    got = await _speak(vc, TWO_SENTENCES, voice_id=vc.rvc_voice_id, convert=True)
    assert got.close_code == 1000 and got.events[-1]["type"] == "done"
    segments = got.of_type("segment")
    assert [s["index"] for s in segments] == [0, 1]
    assert segments == plain.of_type("segment")
    # Each sentence's converted audio, at its exact length, arrives before that sentence's segment event.
    ends = [round((s["start_ms"] + s["duration_ms"]) * RATE / 1000) for s in segments]
    before = _samples_before_each_segment(got)
    assert all(abs(b - e) <= RATE * 3 // 1000 for b, e in zip(before, ends, strict=True)), (before, ends)
    y, x = _audio(got), _audio(plain)
    assert abs(len(y) - len(x)) <= RATE * 3 // 1000
    assert np.isfinite(y).all() and float(np.sqrt(np.mean(y ** 2))) > 0.01
    steady = y[RATE // 4: RATE]
    # The model re-synthesised the speech: no longer the pure tone, but still at the pitch it was given.
    assert _tone_share(x[RATE // 4: RATE], FAKE_TONE_HZ) > 0.95
    assert _tone_share(steady, FAKE_TONE_HZ) < 0.9
    assert abs(_median_f0(steady) / FAKE_TONE_HZ - 1) < 0.05
    # Priced as TTS → RVC (15 credits a minute by default), not plain TTS (10).
    usage = got.of_type("usage")[-1]
    assert abs(usage["credits_used"] - usage["audio_ms"] * 15 / 60000) < 0.002, usage
    plain_usage = plain.of_type("usage")[-1]
    assert abs(plain_usage["credits_used"] - plain_usage["audio_ms"] * 10 / 60000) < 0.002, plain_usage


async def test_cancel_drops_held_audio_and_the_session_goes_on(vc: VCSetup) -> None:
    async with connect(vc.server, vc.api_key) as ws:
        await send(ws, type="start", voice_id=vc.rvc_voice_id, convert=True)
        assert (await next_event(ws))["type"] == "started"
        await send(ws, type="text", text="Uma frase bem comprida que vai ser interrompida no meio. " * 3)
        while not isinstance(await ws.recv(), bytes):
            pass
        await send(ws, type="cancel")
        assert (await next_event(ws, skip=("usage", "segment")))["type"] == "cancelled"
        await send(ws, type="text", text="Fim.")
        await send(ws, type="end")
        got = await collect(ws)
    assert got.close_code == 1000 and got.events[-1]["type"] == "done"
    fim = got.of_type("segment")[-1]
    assert fim["text"] == "Fim."
    # Nothing the converter held from the cancelled sentence leaks out: after `cancelled` comes only "Fim.".
    y = _audio(got)
    assert abs(len(y) - fim["duration_ms"] * RATE / 1000) <= RATE * 3 / 1000, (len(y), fim)
    assert float(np.sqrt(np.mean(y ** 2))) > 0.01


async def test_convert_needs_a_voice_with_an_rvc_model(vc: VCSetup) -> None:
    async with connect(vc.server, vc.api_key) as ws:
        await send(ws, type="start", voice_id=vc.voice_id, convert=True)
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "no_rvc_model", event
        await send(ws, type="start", language="pt-BR", convert=True)
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "no_rvc_model", event
        await send(ws, type="start", voice_id=vc.rvc_voice_id, convert="maybe")
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "invalid_message", event
        # The connection survived: a valid converted session still runs to the end.
        await send(ws, type="start", voice_id=vc.rvc_voice_id, convert=True)
        assert (await next_event(ws))["type"] == "started"
        await ws.send(json.dumps({"type": "text", "text": "Oi."}))
        await send(ws, type="end")
        got = await collect(ws)
    assert got.close_code == 1000 and got.events[-1]["type"] == "done" and len(got.audio) > 0
