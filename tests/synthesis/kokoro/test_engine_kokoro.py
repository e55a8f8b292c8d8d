"""The embedded engine with Kokoro base voices, on a real worker (few, short syntheses: Kokoro is slow on 2 cores)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from synthesis.embedded.base_voices import DEFAULT_ALTERNATE_BASE_VOICES, DEFAULT_BASE_VOICES
from synthesis.embedded.engine import EmbeddedTTSEngine
from synthesis.embedded.voice_stats import analyze_voice
from synthesis.interfaces import EngineError, SynthesisParams, VoiceReference
from synthesis.kokoro.model import Cancellation, KokoroSynth
from synthesis.worker import DeviceWorker
from tests.synthesis.embedded.conftest import median_f0_hz
from tests.synthesis.kokoro.conftest import CACHE


@pytest_asyncio.fixture(scope="module")
async def worker() -> AsyncIterator[DeviceWorker]:
    w = DeviceWorker("cpu", threads=2, queue_size=16)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


@pytest_asyncio.fixture(scope="module")
async def engine(worker: DeviceWorker) -> EmbeddedTTSEngine:
    tts = EmbeddedTTSEngine(worker, base_voices=DEFAULT_BASE_VOICES,
                            alternate_base_voices=DEFAULT_ALTERNATE_BASE_VOICES, kokoro_cache_dir=CACHE)
    await tts.warm_up()
    return tts


async def test_first_chunk_leaves_before_the_sentence_is_rendered(
    engine: EmbeddedTTSEngine, worker: DeviceWorker
) -> None:
    text = "Amanhã cedo a equipe vai revisar o relatório inteiro, corrigir os números e enviar tudo ao cliente."
    before = worker.stats.submitted
    chunks = engine.synthesize(text, None, SynthesisParams(language="pt-BR", stream_start=True))
    first = await anext(chunks)
    # Three pieces or more: at the first chunk, only the first piece and the one rendering ahead were queued.
    assert worker.stats.submitted - before <= 2
    rest = [c async for c in chunks]
    audio = np.concatenate([first.samples, *[c.samples for c in rest]])
    assert worker.stats.submitted - before >= 3
    assert len(audio) / 24000 > 3.0 and np.all(np.isfinite(audio)) and float(np.max(np.abs(audio))) <= 1.0


async def test_pitch_at_the_range_edges_moves_f0(engine: EmbeddedTTSEngine) -> None:
    audio = {}
    for pitch in (-20.0, 0.0, 20.0):
        params = SynthesisParams(language="es", pitch_semitones=pitch)
        audio[pitch] = np.concatenate([c.samples async for c in engine.synthesize("Buenos días a todos.", None,
                                                                                    params)])
        assert np.all(np.isfinite(audio[pitch])) and float(np.sqrt(np.mean(audio[pitch] ** 2))) > 0.01
    # +20 semitones is x3.17; -20 takes the male base voice below 40 Hz, where the matcher's F0 floor holds it.
    assert median_f0_hz(audio[20.0], 24000) > 2.5 * median_f0_hz(audio[0.0], 24000)


async def test_speeds_beyond_the_models_own_range_change_the_tempo_further() -> None:
    synth = KokoroSynth(CACHE)
    await asyncio.to_thread(synth.load)
    text = "Bom dia a todos"
    seconds = {speed: len(await asyncio.to_thread(synth.synthesize, text, "pt-BR", "jm_kumo", speed=speed)) / 24000
               for speed in (0.25, 0.5, 2.0, 4.0)}
    # The model renders 0.5 and 2; 0.25 and 4 are those renderings slowed down or sped up twice more.
    assert 1.8 < seconds[0.25] / seconds[0.5] < 2.2
    assert 1.8 < seconds[2.0] / seconds[4.0] < 2.2
    assert seconds[4.0] > 0.15


async def test_speed_and_pitch_outside_the_range_are_refused(engine: EmbeddedTTSEngine) -> None:
    for params in (SynthesisParams(language="pt-BR", speed=0.2), SynthesisParams(language="pt-BR", speed=4.5),
                   SynthesisParams(language="pt-BR", pitch_semitones=20.5)):
        with pytest.raises(EngineError) as info:
            await anext(engine.synthesize("Olá.", None, params))
        assert info.value.code == "invalid_params"


async def test_cancellation_aborts_a_running_inference(engine: EmbeddedTTSEngine) -> None:
    synth = KokoroSynth(CACHE)
    await asyncio.to_thread(synth.load)
    cancelled = Cancellation()
    cancelled.cancel()
    assert len(synth.synthesize("Olá.", "pt-BR", "jm_kumo", cancellation=cancelled)) == 0
    # ~500 tokens take many seconds on any CPU; cancelled 0.3 s in, the run ends with no audio.
    long_text = " ".join(["Hoje o tempo estava calmo e caminhamos pela beira do rio."] * 12)
    running = Cancellation()
    timer = threading.Timer(0.3, running.cancel)
    timer.start()
    try:
        audio = await asyncio.to_thread(synth.synthesize, long_text, "pt-BR", "jm_kumo", cancellation=running)
    finally:
        timer.cancel()
    assert len(audio) == 0


def test_unknown_pack_is_refused_at_construction(worker: DeviceWorker) -> None:
    with pytest.raises(ValueError, match="jm_nobody"):
        EmbeddedTTSEngine(worker, base_voices={"pt-BR": "kokoro:jm_nobody"})
    with pytest.raises(ValueError, match="cannot speak"):
        EmbeddedTTSEngine(worker, base_voices={"es": "piper"})


async def test_a_higher_voice_speaks_through_the_base_voice_nearest_its_pitch(engine: EmbeddedTTSEngine) -> None:
    text = "Hoje a reunião começa mais cedo."
    params = SynthesisParams(language="pt-BR")
    low = np.concatenate([c.samples async for c in engine.synthesize(text, None, params)])
    # The male base voice an octave up stands in for a higher speaker.
    high = np.concatenate([c.samples async for c in engine.synthesize(
        text, None, SynthesisParams(language="pt-BR", pitch_semitones=12.0))])
    assert engine.base_for("pt-BR", analyze_voice(low, 24000)).voice == "jm_kumo"
    assert engine.base_for("pt-BR", analyze_voice(high, 24000)).voice == "jf_nezumi"
    assert engine.base_for("pt-BR", None).voice == "jm_kumo"
    profile = VoiceReference(voice_id="higher", language="pt-BR", samples=high, sample_rate_hz=24000)
    matched = np.concatenate([c.samples async for c in engine.synthesize("Amanhã também.", profile, params)])
    semitones = 12 * np.log2(median_f0_hz(matched, 24000) / median_f0_hz(high, 24000))
    assert abs(semitones) < 3.0
