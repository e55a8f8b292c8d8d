"""F5 end to end on CPU: a tiny random F5 model set (real formats, real loaders) behind `duble serve --tts-engine f5`,
a real WebSocket client, the synthesis cache in the real Redis. The audio is noise; the pipeline is real."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from synthesis.f5.tiny import write_tiny_f5
from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime.ws_client import Received, collect, connect, next_event, send
from tests.servers import RunningServer, run_server

THREE = "Olá, pessoal! Sejam bem-vindos à live de hoje. Não esqueçam de seguir o canal."


@pytest.fixture(scope="module")
def f5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_f5(tmp_path_factory.mktemp("f5-models"))


@pytest.fixture(scope="module")
def f5_server(tmp_path_factory: pytest.TempPathFactory, f5_dir: Path) -> Iterator[RunningServer]:
    env = {"DUBLE_F5_NFE_STEPS": "4", "DUBLE_WORKER_THREADS": "1"}
    args = ["--tts-engine", "f5", "--f5-dir", str(f5_dir)]
    with run_server(tmp_path_factory.mktemp("f5-server"), env, args=args) as srv:
        yield srv


@pytest.fixture(scope="module")
def f5_voice(f5_server: RunningServer, samples_dir: Path) -> tuple[str, str]:
    key, headers = create_account(f5_server)
    wav = espeak_wav(samples_dir / "f5-ref.wav", REFERENCE_TEXT["pt-BR"], "pt-BR")
    voice = upload_voice(f5_server, headers, wav, reference_text=REFERENCE_TEXT["pt-BR"])
    return key, str(voice["id"])


async def _speak(server: RunningServer, key: str, voice_id: str, text: str, *, words: bool = True) -> Received:
    async with connect(server, key) as ws:
        await send(ws, type="start", voice_id=voice_id)
        assert (await next_event(ws, 60))["type"] == "started"
        for piece in text.split(" ") if words else [text]:
            await send(ws, type="text", text=piece + " ")
        await send(ws, type="end")
        return await collect(ws)


async def _stats(server: RunningServer) -> dict[str, object]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}/v1/stats", timeout=10)
    assert resp.status_code == 200
    data: dict[str, object] = resp.json()
    return data


def test_f5_voices_need_reference_text(f5_server: RunningServer, samples_dir: Path) -> None:
    _, headers = create_account(f5_server)
    wav = espeak_wav(samples_dir / "f5-noref.wav", REFERENCE_TEXT["pt-BR"], "pt-BR")
    with open(wav, "rb") as fh:
        resp = httpx.post(f"{f5_server.base_url}/v1/voices", headers=headers, data={"name": "x", "language": "pt-BR"},
                          files={"audio": ("a.wav", fh)}, timeout=60)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "reference_text_required"


async def test_three_sentences_stream_in_order(f5_server: RunningServer, f5_voice: tuple[str, str]) -> None:
    key, voice_id = f5_voice
    got = await _speak(f5_server, key, voice_id, THREE)
    assert got.close_code == 1000 and not got.of_type("error"), got.events
    kinds = [(kind, what) for kind, what, _ in got.timeline]
    segments = got.of_type("segment")
    assert [s["index"] for s in segments] == [0, 1, 2]
    assert [s["text"] for s in segments] == ["Olá, pessoal!", "Sejam bem-vindos à live de hoje.",
                                             "Não esqueçam de seguir o canal."]
    assert kinds[0][0] == "audio", "first audio comes before the first sentence has finished"
    first_segment = kinds.index(("event", "segment"))
    assert any(k == "audio" for k, _ in kinds[first_segment + 1:]), "later sentences stream too"
    samples = np.frombuffer(bytes(got.audio), "<i2").astype(np.float32) / 32768
    audio_ms = 1000 * len(samples) / 24000
    assert got.events[-1]["type"] == "done" and abs(got.events[-1]["audio_ms"] - audio_ms) < 50
    for a, b in zip(segments, segments[1:], strict=False):
        assert b["start_ms"] == a["start_ms"] + a["duration_ms"]
    assert float(np.std(samples)) > 0.001


async def test_repeated_sentence_is_a_cache_hit(f5_server: RunningServer, f5_voice: tuple[str, str]) -> None:
    key, voice_id = f5_voice
    text = "Esta frase vai ser repetida."
    first = await _speak(f5_server, key, voice_id, text, words=False)
    cache_before = (await _stats(f5_server))["tts_cache"]
    second = await _speak(f5_server, key, voice_id, text, words=False)
    cache_after = (await _stats(f5_server))["tts_cache"]
    assert isinstance(cache_before, dict) and isinstance(cache_after, dict)
    assert cache_after["hits"] == cache_before["hits"] + 1
    assert cache_after["misses"] == cache_before["misses"]
    a = np.frombuffer(bytes(first.audio), "<i2").astype(np.int32)
    b = np.frombuffer(bytes(second.audio), "<i2").astype(np.int32)
    assert len(a) == len(b) and int(np.max(np.abs(a - b))) <= 1
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{f5_server.base_url}/metrics", timeout=10)).text
    assert "duble_tts_cache_lookups_total{" in metrics and "duble_worker_queue_depth" in metrics


async def test_cancel_mid_stream_then_continue(f5_server: RunningServer, f5_voice: tuple[str, str]) -> None:
    key, voice_id = f5_voice
    long_text = " ".join(f"Frase longa número {i}, com bastante texto para demorar um pouco." for i in range(12))
    async with connect(f5_server, key) as ws:
        await send(ws, type="start", voice_id=voice_id)
        await next_event(ws)
        await send(ws, type="text", text=long_text)
        while isinstance(await asyncio.wait_for(ws.recv(), 60), str):
            pass  # until the first audio
        await send(ws, type="cancel")
        event = await next_event(ws, 60)
        while event["type"] in ("segment", "usage"):
            event = await next_event(ws, 60)
        assert event["type"] == "cancelled", event
        await send(ws, type="text", text="Depois do cancelamento.")
        await send(ws, type="end")
        got = await collect(ws)
    assert [s["text"] for s in got.of_type("segment")] == ["Depois do cancelamento."]
    assert got.events[-1]["type"] == "done" and len(got.audio) > 0


def test_full_queue_answers_busy_and_the_server_recovers(tmp_path: Path, f5_dir: Path, samples_dir: Path) -> None:
    env = {"DUBLE_F5_NFE_STEPS": "32", "DUBLE_WORKER_THREADS": "1", "DUBLE_WORKER_QUEUE_SIZE": "1"}
    with run_server(tmp_path, env, args=["--tts-engine", "f5", "--f5-dir", str(f5_dir)]) as srv:
        key, headers = create_account(srv)
        wav = espeak_wav(samples_dir / "f5-busy.wav", REFERENCE_TEXT["pt-BR"], "pt-BR")
        voice_id = str(upload_voice(srv, headers, wav, reference_text=REFERENCE_TEXT["pt-BR"])["id"])

        async def run_all() -> list[Received]:
            texts = [f"Sessão {i} fala uma frase bem comprida para ocupar a fila." for i in range(8)]
            return await asyncio.gather(*[_speak(srv, key, voice_id, t, words=False) for t in texts])

        results = asyncio.run(run_all())
        codes = [e["code"] for r in results for e in r.of_type("error")]
        assert "busy" in codes, codes
        assert all(r.events[-1]["type"] == "done" and r.close_code == 1000 for r in results)
        assert any(len(r.audio) > 0 for r in results)
        worker = asyncio.run(_stats(srv))["worker"]
        assert isinstance(worker, dict) and worker["rejected_busy"] > 0 and worker["queue_depth"] == 0


async def test_f5_start_without_voice_is_refused(f5_server: RunningServer, f5_voice: tuple[str, str]) -> None:
    key, voice_id = f5_voice
    async with connect(f5_server, key) as ws:
        await send(ws, type="start", language="pt-BR")
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "voice_required"
        await send(ws, type="start", voice_id=voice_id)
        assert (await next_event(ws, 60))["type"] == "started"
