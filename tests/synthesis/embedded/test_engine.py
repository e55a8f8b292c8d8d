from __future__ import annotations

import math
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from synthesis.embedded.engine import EmbeddedTTSEngine
from synthesis.interfaces import AudioChunk, EngineError, SynthesisParams, TTSEngine, VoiceReference
from synthesis.worker import DeviceWorker
from tests.synthesis.embedded.conftest import median_f0_hz

MAX_CHUNK_MS = 300.0


@pytest_asyncio.fixture(scope="module")
async def engine() -> AsyncIterator[EmbeddedTTSEngine]:
    worker = DeviceWorker("cpu", threads=1, queue_size=16)
    await worker.start()
    try:
        tts = EmbeddedTTSEngine(worker)
        await tts.warm_up()
        yield tts
    finally:
        await worker.stop()


async def _collect(engine: TTSEngine, text: str, voice: VoiceReference | None, params: SynthesisParams
                   ) -> list[AudioChunk]:
    return [chunk async for chunk in engine.synthesize(text, voice, params)]


def _joined(chunks: list[AudioChunk]) -> np.ndarray:
    assert chunks, "no audio"
    assert all(c.sample_rate_hz == 24000 for c in chunks)
    assert all(0 < c.duration_ms <= MAX_CHUNK_MS for c in chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert np.all(np.isfinite(audio)) and float(np.max(np.abs(audio))) <= 1.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.02
    return audio


def _voice(samples: np.ndarray, rate: int, voice_id: str = "v-high") -> VoiceReference:
    return VoiceReference(voice_id=voice_id, language="en", samples=samples, sample_rate_hz=rate)


async def test_is_a_tts_engine(engine: EmbeddedTTSEngine) -> None:
    assert isinstance(engine, TTSEngine)
    assert engine.name == "embedded" and engine.sample_rate_hz == 24000


@pytest.mark.parametrize(("language", "text"), [
    ("en", "Hello there. This is the Piper voice, in small chunks."),
    ("pt-BR", "Olá, pessoal! Esta é a voz base em português."),
    ("es", "Hola a todos. Esta es la voz base en español."),
])
async def test_base_voice_in_every_language(engine: EmbeddedTTSEngine, language: str, text: str) -> None:
    chunks = await _collect(engine, text, None, SynthesisParams(language=language))
    audio = _joined(chunks)
    assert len(chunks) >= 4
    assert 1.5 < len(audio) / 24000 < 8.0


async def test_voice_moves_pitch_toward_the_reference(
    engine: EmbeddedTTSEngine, high_voice: tuple[np.ndarray, int]
) -> None:
    text = "The weather was calm this morning, so we walked along the river for an hour."
    plain = _joined(await _collect(engine, text, None, SynthesisParams(language="en")))
    samples, rate = high_voice
    matched = _joined(await _collect(engine, text, _voice(samples, rate), SynthesisParams(language="en")))
    target = median_f0_hz(samples, rate)
    before = abs(math.log(median_f0_hz(plain, 24000) / target))
    after = abs(math.log(median_f0_hz(matched, 24000) / target))
    assert after < 0.35 * before
    assert "v-high" in engine.cached_voice_ids


async def test_pitch_without_voice(engine: EmbeddedTTSEngine) -> None:
    text = "Uma frase curta para medir a altura da voz."
    plain = _joined(await _collect(engine, text, None, SynthesisParams(language="pt-BR")))
    raised = _joined(await _collect(engine, text, None, SynthesisParams(language="pt-BR", pitch_semitones=7.0)))
    ratio = median_f0_hz(raised, 24000) / median_f0_hz(plain, 24000)
    assert 2 ** (5 / 12) < ratio < 2 ** (9 / 12)
    assert abs(len(raised) - len(plain)) < 0.05 * len(plain)


async def test_speed(engine: EmbeddedTTSEngine) -> None:
    text = "Una frase bastante larga para medir la velocidad de la voz."
    slow = _joined(await _collect(engine, text, None, SynthesisParams(language="es", speed=0.5)))
    fast = _joined(await _collect(engine, text, None, SynthesisParams(language="es", speed=2.0)))
    assert len(slow) > 2.5 * len(fast)


@pytest.mark.parametrize(("text", "params", "code"), [
    ("", SynthesisParams(language="en"), "empty_text"),
    ("   \n ", SynthesisParams(language="pt-BR"), "empty_text"),
    ("Bonjour", SynthesisParams(language="fr"), "unsupported_language"),
    ("Hello", SynthesisParams(language="en", speed=4.5), "invalid_params"),
    ("Hello", SynthesisParams(language="en", speed=0.2), "invalid_params"),
    ("Hello", SynthesisParams(language="en", pitch_semitones=-20.5), "invalid_params"),
])
async def test_bad_input(engine: EmbeddedTTSEngine, text: str, params: SynthesisParams, code: str) -> None:
    with pytest.raises(EngineError) as info:
        await _collect(engine, text, None, params)
    assert info.value.code == code
    assert not info.value.retryable


async def test_voice_without_speech_is_rejected(engine: EmbeddedTTSEngine) -> None:
    silent = _voice(np.zeros(24000 * 4, dtype=np.float32), 24000, voice_id="v-silent")
    with pytest.raises(EngineError) as info:
        await _collect(engine, "Hello there.", silent, SynthesisParams(language="en"))
    assert info.value.code == "bad_voice"
    assert "v-silent" not in engine.cached_voice_ids


async def test_an_uploaded_voice_is_prepared_before_its_first_stream(
    engine: EmbeddedTTSEngine, high_voice: tuple[np.ndarray, int]
) -> None:
    samples, rate = high_voice
    await engine.prepare_voice(_voice(samples, rate, voice_id="v-uploaded"))
    assert engine.cached_voice_ids[-1] == "v-uploaded"
    with pytest.raises(EngineError) as info:
        await engine.prepare_voice(_voice(np.zeros(24000 * 4, dtype=np.float32), 24000, voice_id="v-mute"))
    assert info.value.code == "bad_voice" and "v-mute" not in engine.cached_voice_ids


async def test_voice_cache_is_bounded(high_voice: tuple[np.ndarray, int]) -> None:
    worker = DeviceWorker("cpu", threads=1)
    await worker.start()
    try:
        tts = EmbeddedTTSEngine(worker, english_engine="espeak", voice_cache_size=2)
        await tts.warm_up()
        samples, rate = high_voice
        for voice_id in ("a", "b", "c"):
            _joined(await _collect(tts, "Hello.", _voice(samples, rate, voice_id), SynthesisParams(language="en")))
        assert tts.cached_voice_ids == ["b", "c"]
    finally:
        await worker.stop()


async def test_not_warmed_up_is_retryable() -> None:
    worker = DeviceWorker("cpu", threads=1)
    await worker.start()
    try:
        with pytest.raises(EngineError) as info:
            await _collect(EmbeddedTTSEngine(worker), "Hello.", None, SynthesisParams(language="en"))
        assert info.value.code == "not_ready" and info.value.retryable
    finally:
        await worker.stop()
