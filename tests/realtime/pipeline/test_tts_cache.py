"""The synthesis cache on the real Redis (own key prefix per test), around the fake engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from billing.redis_client import connect_redis
from realtime.pipeline.tts_cache import (
    CachedTTSEngine,
    TTSCache,
    TTSCacheSettings,
    cache_key_digest,
    decode_entry,
    encode_entry,
)
from synthesis.fake import FakeTTSEngine, FakeTTSSettings
from synthesis.interfaces import EngineError, SynthesisParams, VoiceReference
from synthesis.worker import DeviceWorker
from tests.servers import REDIS_URL

PT = SynthesisParams("pt-BR")
VOICE = VoiceReference("v1", "pt-BR", np.zeros(24000, dtype=np.float32), 24000, "texto de referência")


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = connect_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def worker() -> AsyncIterator[DeviceWorker]:
    w = DeviceWorker("cpu", threads=1, queue_size=16)
    await w.start()
    yield w
    await w.stop()


async def _cleanup(redis: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def prefix(redis: aioredis.Redis) -> AsyncIterator[str]:
    p = f"dubletest:cache:{uuid.uuid4().hex[:10]}:"
    yield p
    await _cleanup(redis, p)


def _engine(worker: DeviceWorker, redis: aioredis.Redis, prefix: str, **kw: int) -> CachedTTSEngine:
    inner = FakeTTSEngine(worker, FakeTTSSettings(ms_per_char=20))
    return CachedTTSEngine(inner, TTSCache(redis, TTSCacheSettings(prefix=prefix, **kw)))


async def _speak(engine: CachedTTSEngine, text: str, params: SynthesisParams = PT) -> np.ndarray:
    return np.concatenate([c.samples async for c in engine.synthesize(text, VOICE, params)])


def test_entries_round_trip() -> None:
    samples = np.linspace(-1, 1, 1000, dtype=np.float32)
    decoded = decode_entry(encode_entry(samples, 22050))
    assert decoded is not None and decoded[1] == 22050
    np.testing.assert_allclose(decoded[0], samples, atol=1 / 16000)
    assert decode_entry(b"garbage!") is None


async def test_a_repeated_sentence_is_served_from_redis(worker: DeviceWorker, redis: aioredis.Redis,
                                                        prefix: str) -> None:
    engine = _engine(worker, redis, prefix, ttl_s=120)
    first = await _speak(engine, "Uma frase repetida.")
    jobs_after_first = worker.stats.submitted
    second = await _speak(engine, "Uma  frase repetida. ")  # whitespace does not matter
    assert worker.stats.submitted == jobs_after_first, "a hit must not touch the engine"
    np.testing.assert_allclose(second, first, atol=1 / 16000)
    stats = await engine.cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1) and stats.hit_rate == 0.5
    ttl = await redis.ttl(engine.cache.entry_key(cache_key_digest("fake", "Uma frase repetida.", VOICE, PT)))
    assert 0 < ttl <= 120


async def test_other_params_voice_or_engine_miss(worker: DeviceWorker, redis: aioredis.Redis, prefix: str) -> None:
    engine = _engine(worker, redis, prefix)
    await _speak(engine, "Mesma frase.")
    await _speak(engine, "Mesma frase.", SynthesisParams("pt-BR", speed=1.5))
    await _speak(engine, "Mesma frase.", SynthesisParams("es"))
    stats = await engine.cache.stats()
    assert (stats.hits, stats.misses) == (0, 3)


async def test_an_interrupted_or_failed_stream_is_not_stored(worker: DeviceWorker, redis: aioredis.Redis,
                                                             prefix: str) -> None:
    engine = _engine(worker, redis, prefix)
    stream = engine.synthesize("Uma frase longa o bastante para ter vários pedaços de áudio.", VOICE, PT)
    async for _ in stream:
        break
    await stream.aclose()
    failing = CachedTTSEngine(FakeTTSEngine(worker, FakeTTSSettings(fail_after_chunks=1)), engine.cache)
    with pytest.raises(EngineError):
        async for _ in failing.synthesize("Outra frase comprida que falha no meio do caminho.", VOICE, PT):
            pass
    assert (await engine.cache.stats()).entries == 0


async def test_size_is_bounded_by_evicting_the_least_recently_used(worker: DeviceWorker, redis: aioredis.Redis,
                                                                    prefix: str) -> None:
    one_entry = len(encode_entry(await _speak(_engine(worker, redis, prefix + "probe:"), "Frase 1."), 24000))
    engine = _engine(worker, redis, prefix, max_bytes=int(one_entry * 2.5))
    await _speak(engine, "Frase 1.")
    await _speak(engine, "Frase 2.")
    await _speak(engine, "Frase 1.")  # hit: now the most recently used
    await _speak(engine, "Frase 3.")  # evicts "Frase 2."
    stats = await engine.cache.stats()
    assert stats.entries == 2 and stats.bytes <= one_entry * 2.5
    before = (await engine.cache.stats()).hits
    await _speak(engine, "Frase 1.")
    await _speak(engine, "Frase 2.")
    assert (await engine.cache.stats()).hits == before + 1


async def test_oversized_entries_are_not_stored(worker: DeviceWorker, redis: aioredis.Redis, prefix: str) -> None:
    engine = _engine(worker, redis, prefix, max_entry_bytes=100)
    await _speak(engine, "Grande demais para o cache.")
    assert (await engine.cache.stats()).entries == 0


async def test_redis_down_means_no_cache_not_an_error(worker: DeviceWorker, prefix: str) -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        engine = _engine(worker, dead, prefix)
        assert len(await _speak(engine, "Sem Redis.")) > 0
    finally:
        await dead.aclose()
