"""WebSocket /v1/vc/stream end to end: WORLD matcher and tiny RVC, continuity, length, pitch, every bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import parselmouth
import pytest
import soundfile

from tests.helpers import espeak_wav
from tests.realtime.vc_support import VCSetup, connect, next_event, start_vc_server, stream, to_pcm, tone


@pytest.fixture(scope="module")
def vc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCSetup]:
    yield from start_vc_server(tmp_path_factory.mktemp("vc"))


def _median_f0(x: np.ndarray, rate: int) -> float:
    f = parselmouth.Sound(x.astype(np.float64), rate).to_pitch().selected_array["frequency"]
    return float(np.median(f[f > 0]))


def _assert_continuous(y: np.ndarray, rate: int) -> None:
    frame = rate // 50
    rms = np.sqrt(np.mean(y[: len(y) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert rms.min() > 0.2 * np.median(rms), "a gap (near-silent 20 ms frame) inside the stream"
    steps = np.abs(np.diff(y))
    assert steps.max() < 6 * np.percentile(steps, 99), "a click at a block join"


async def test_world_tone_length_continuity_and_pitch_shift(vc: VCSetup) -> None:
    rate = 16000
    x = tone(180, 2.0, rate)
    f0 = {}
    for shift in (0, 7):
        got = await stream(vc.server, vc.api_key, {"voice_id": vc.voice_id, "sample_rate": rate,
                                                   "pitch_shift": shift}, x)
        started = got.events[0]
        assert started["engine"] == "WorldMatcher" and started["algorithmic_latency_ms"] <= 100
        assert got.close_code == 1000
        done = got.of_type("done")[0]
        assert done["input_ms"] == 2000 and done["dropped_ms"] == 0
        y = got.samples
        block = int(rate * started["algorithmic_latency_ms"] / 1000)
        assert abs(len(y) - len(x)) <= block
        assert got.of_type("stats"), "no stats event"
        steady = y[rate // 4: -rate // 4]
        _assert_continuous(steady, rate)
        f0[shift] = _median_f0(steady, rate)
    assert abs(f0[7] / f0[0] - 2 ** (7 / 12)) < 0.04


async def test_world_speech_at_24k(vc: VCSetup, tmp_path: Path) -> None:
    wav = espeak_wav(tmp_path / "speech.wav", "Bom dia a todos, isto é um teste de conversão ao vivo.")
    speech, sr = soundfile.read(wav, dtype="float32")
    from synthesis.dsp.resample import resample

    x = resample(speech, sr, 24000)[: 24000 * 3]
    got = await stream(vc.server, vc.api_key, {"voice_id": vc.voice_id, "sample_rate": 24000, "pitch_shift": -3,
                                               "block_ms": 40}, x, frame_ms=10)
    y = got.samples
    assert got.of_type("done")[0]["dropped_ms"] == 0
    assert abs(len(y) - len(x)) <= 24000 * 0.06
    assert np.sqrt(np.mean(y ** 2)) > 0.01
    assert np.isfinite(y).all()


async def test_rvc_voice_at_48k_with_pitch_shift(vc: VCSetup) -> None:
    rate = 48000
    x = tone(160, 2.0, rate)
    got = await stream(vc.server, vc.api_key, {"voice_id": vc.rvc_voice_id, "sample_rate": rate,
                                               "pitch_shift": 12}, x)
    assert got.events[0]["engine"] == "RVCConverter"
    assert got.close_code == 1000
    y = got.samples
    assert abs(len(y) - len(x)) <= rate // 10
    assert abs(_median_f0(y[rate // 2:], rate) / 320 - 1) < 0.05


async def test_burst_beyond_backlog_is_dropped_not_queued(vc: VCSetup) -> None:
    rate = 16000
    x = tone(200, 4.0, rate)
    got = await stream(vc.server, vc.api_key, {"voice_id": vc.voice_id, "sample_rate": rate}, x, frame_ms=40,
                       speed=0)
    done = got.of_type("done")[0]
    assert done["dropped_ms"] > 0
    assert abs(len(got.samples) - len(x)) <= rate // 10


async def _expect_error(ws: object, code: str) -> dict[str, object]:
    event = await next_event(ws)
    assert event["type"] == "error" and event["code"] == code, event
    return event


async def test_bad_input_gets_clear_errors(vc: VCSetup) -> None:
    async with connect(vc.server, vc.api_key) as ws:
        await ws.send(b"\x00\x00")
        await _expect_error(ws, "not_started")
        await ws.send("{nope")
        await _expect_error(ws, "invalid_json")
        await ws.send(json.dumps({"type": "start", "voice_id": vc.voice_id, "sample_rate": 22050}))
        await _expect_error(ws, "invalid_sample_rate")
        await ws.send(json.dumps({"type": "start", "voice_id": "00000000-0000-0000-0000-000000000000"}))
        await _expect_error(ws, "voice_not_found")
        await ws.send(json.dumps({"type": "start", "voice_id": "not-a-uuid"}))
        await _expect_error(ws, "voice_not_found")
        await ws.send(json.dumps({"type": "start", "voice_id": vc.voice_id, "engine": "rvc"}))
        await _expect_error(ws, "no_rvc_model")
        await ws.send(json.dumps({"type": "start", "voice_id": vc.voice_id, "pitch_shift": 40}))
        await _expect_error(ws, "invalid_message")
        await ws.send(json.dumps({"type": "start", "voice_id": vc.voice_id, "sample_rate": 16000}))
        assert (await next_event(ws))["type"] == "started"
        await ws.send(b"\x01\x02\x03")
        await _expect_error(ws, "invalid_audio")
        await ws.send(b"\x00" * (64 * 1024 + 2))
        await _expect_error(ws, "frame_too_large")
        await ws.send(json.dumps({"type": "dance"}))
        await _expect_error(ws, "unknown_type")
        # The session survived every bad message: audio still converts and the stream ends cleanly.
        await ws.send(to_pcm(tone(200, 0.5, 16000)))
        await ws.send(json.dumps({"type": "end"}))
        audio = 0
        events = []
        async for msg in ws:
            if isinstance(msg, bytes):
                audio += len(msg)
            else:
                events.append(json.loads(msg))
        assert audio // 2 >= 8000 and events[-1]["type"] == "done"
    async with connect(vc.server, "wrong-key") as ws:
        await _expect_error(ws, "unauthorized")


def test_rvc_model_upload_errors(vc: VCSetup, tmp_path: Path) -> None:
    base, headers = vc.server.base_url, vc.headers
    url = f"{base}/v1/voices/{vc.voice_id}/rvc-model"
    r = httpx.post(url, headers=headers, files={"model": ("v.pth", b"garbage")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_model"
    r = httpx.post(url, headers=headers, files={"model": ("v.pth", b"")})
    assert r.status_code == 422
    r = httpx.post(url, headers=headers, data={"x": "1"})
    assert r.status_code == 422
    model = vc.tiny.model_path.read_bytes()
    r = httpx.post(url, headers=headers, files={"model": ("v.pth", model), "index": ("v.index", b"junk")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_index"
    r = httpx.post(f"{base}/v1/voices/00000000-0000-0000-0000-000000000000/rvc-model", headers=headers,
                   files={"model": ("v.pth", model)})
    assert r.status_code == 404
    assert httpx.get(url, headers=headers).status_code == 404
    got = httpx.get(f"{base}/v1/voices/{vc.rvc_voice_id}/rvc-model", headers=headers)
    assert got.status_code == 200 and got.json()["sample_rate"] == 40000 and got.json()["has_index"]
    assert httpx.get(f"{base}/healthz").status_code == 200


def _voice_whose_model_file_vanished(vc: VCSetup) -> str:
    base, headers = vc.server.base_url, vc.headers
    ref = (vc.tiny.model_path.parent.parent / "vc-ref.wav").read_bytes()
    voice = httpx.post(f"{base}/v1/voices", headers=headers, data={"name": "gone", "language": "pt-BR"},
                       files={"audio": ("ref.wav", ref)}, timeout=60).json()
    r = httpx.post(f"{base}/v1/voices/{voice['id']}/rvc-model", headers=headers,
                   files={"model": ("v.pth", vc.tiny.model_path.read_bytes())}, timeout=300)
    assert r.status_code == 201
    removed = [p for p in Path(vc.server.env["DUBLE_DATA_DIR"]).rglob("voice-*.pth") if voice["id"] in str(p)]
    assert len(removed) == 1
    removed[0].unlink()
    return str(voice["id"])


async def test_missing_model_file_is_a_clear_error(vc: VCSetup) -> None:
    voice_id = await asyncio.to_thread(_voice_whose_model_file_vanished, vc)
    async with connect(vc.server, vc.api_key) as ws:
        await ws.send(json.dumps({"type": "start", "voice_id": voice_id}))
        await _expect_error(ws, "invalid_model")
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{vc.server.base_url}/healthz")).status_code == 200
