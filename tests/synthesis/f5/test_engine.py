from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from synthesis.f5.engine import F5TTSEngine
from synthesis.interfaces import EngineError, SynthesisParams, TTSEngine
from synthesis.worker import PRIORITY_LIVE, DeviceWorker
from tests.helpers import wait_until
from tests.synthesis.f5.support import THREE_SENTENCES, make_voice, started_engine

PT = SynthesisParams("pt-BR")


async def test_implements_the_engine_interface(engine: tuple[F5TTSEngine, DeviceWorker]) -> None:
    eng, _ = engine
    assert isinstance(eng, TTSEngine)
    assert eng.name == "f5" and eng.sample_rate_hz == 24000


async def test_first_audio_needs_only_the_first_batch(engine: tuple[F5TTSEngine, DeviceWorker]) -> None:
    eng, worker = engine
    voice = make_voice("first-batch")
    before = worker.stats.completed
    completed_at_chunk: list[int] = []
    chunks = []
    async for chunk in eng.synthesize(THREE_SENTENCES, voice, PT):
        completed_at_chunk.append(worker.stats.completed - before)
        chunks.append(chunk)
    # Job 1 prepares the reference, job 2 is the first (short) batch; later batches were not needed yet.
    assert completed_at_chunk[0] <= 2
    assert completed_at_chunk[-1] >= 3, "the text should have been split into a short first batch and the rest"
    assert all(c.sample_rate_hz == 24000 for c in chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert 2.0 < len(audio) / 24000 < 30.0
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0 and np.std(audio) > 0


async def test_speed_shortens_the_audio(engine: tuple[F5TTSEngine, DeviceWorker]) -> None:
    eng, _ = engine
    voice = make_voice("speed")

    async def length(speed: float) -> int:
        return sum([len(c.samples) async for c in eng.synthesize("Uma frase de teste.", voice,
                                                                   SynthesisParams("pt-BR", speed=speed))])

    assert await length(2.0) < await length(1.0)


async def test_bad_requests_raise_engine_errors(engine: tuple[F5TTSEngine, DeviceWorker]) -> None:
    eng, _ = engine
    cases = [("texto", None, "voice_required"), ("texto", make_voice(text=None), "reference_text_required"),
             ("texto", make_voice(text="  "), "reference_text_required"), ("   ", make_voice(), "empty_text")]
    for text, voice, code in cases:
        with pytest.raises(EngineError) as info:
            async for _ in eng.synthesize(text, voice, PT):
                pass
        assert info.value.code == code


async def test_language_without_a_model(tiny_f5_dir: Path) -> None:
    eng, worker = await started_engine(None, language_dirs={"es": tiny_f5_dir})
    try:
        with pytest.raises(EngineError) as info:
            async for _ in eng.synthesize("Olá.", make_voice(), PT):
                pass
        assert info.value.code == "language_unsupported"
        chunks = [c async for c in eng.synthesize("Hola a todos.", make_voice(language="es"),
                                                  SynthesisParams("es"))]
        assert chunks
    finally:
        await worker.stop()


async def test_closing_mid_stream_cancels_queued_batches(engine: tuple[F5TTSEngine, DeviceWorker]) -> None:
    eng, worker = engine
    stream = eng.synthesize(" ".join([THREE_SENTENCES] * 3), make_voice("cancel"), PT)
    async for _ in stream:
        break
    await stream.aclose()
    submitted = worker.stats.submitted
    await asyncio.sleep(0.3)
    assert worker.queue_depth == 0
    assert worker.stats.submitted == submitted, "no new batch may be queued after the consumer left"
    assert [c async for c in eng.synthesize("Depois do cancelamento.", make_voice("cancel"), PT)]


async def test_full_queue_is_busy_not_a_hang(tiny_f5_dir: Path) -> None:
    eng, worker = await started_engine(tiny_f5_dir, queue_size=1)
    release = threading.Event()
    try:
        running = threading.Event()
        blocker = asyncio.ensure_future(worker.submit(lambda: running.set() or release.wait(30),
                                                      priority=PRIORITY_LIVE))
        await wait_until(running.is_set)
        filler = asyncio.ensure_future(worker.submit(lambda: None))
        await wait_until(lambda: worker.queue_depth == 1)
        with pytest.raises(EngineError) as info:
            async for _ in eng.synthesize("Fila cheia.", make_voice("busy"), PT):
                pass
        assert info.value.code == "busy" and info.value.retryable
        release.set()
        await asyncio.gather(blocker, filler)
        assert [c async for c in eng.synthesize("Agora cabe.", make_voice("busy"), PT)]
    finally:
        release.set()
        await worker.stop()


async def test_batches_of_concurrent_sessions_share_one_model_call(tiny_f5_dir: Path) -> None:
    eng, worker = await started_engine(tiny_f5_dir, max_batch=4)
    release = threading.Event()
    try:
        voices = [make_voice(f"batch-{i}") for i in range(3)]
        for v in voices:  # prepare the references first, so the queued jobs are all text batches
            [c async for c in eng.synthesize("Aquecendo.", v, PT)]
        running = threading.Event()
        blocker = asyncio.ensure_future(worker.submit(lambda: running.set() or release.wait(30)))
        await wait_until(running.is_set)
        batches_before, jobs_before = worker.stats.batches, worker.stats.batched_jobs

        async def speak(i: int) -> int:
            return sum([len(c.samples) async for c in eng.synthesize(f"Sessão número {i} falando.", voices[i], PT)])

        tasks = [asyncio.ensure_future(speak(i)) for i in range(3)]
        await wait_until(lambda: worker.queue_depth >= 3)  # each session's first batch waits behind the blocker
        release.set()
        lengths = await asyncio.gather(blocker, *tasks)
        assert all(n > 0 for n in lengths[1:])
        assert worker.stats.batched_jobs - jobs_before > worker.stats.batches - batches_before
    finally:
        release.set()
        await worker.stop()
