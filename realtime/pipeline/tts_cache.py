"""Synthesis cache in Redis, as a stage wrapped around any ``TTSEngine`` (engines know nothing about Redis).

A sentence whose (engine, voice, text, parameters) was synthesized before is replayed from Redis; a miss streams from
the engine and is stored only when it completed. Entries expire after ``ttl_s``; the total size is bounded by evicting
the least recently used entries (an index sorted set + a size hash + a byte counter, updated atomically in Lua).
Redis trouble never fails a synthesis: the cache is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from realtime.config import Settings
from synthesis.interfaces import AudioChunk, Samples, SynthesisParams, TTSEngine, VoiceReference

log = logging.getLogger(__name__)

_MAGIC = b"DTC1"
_HEADER = struct.Struct("<4sI")
_REDIS_TIMEOUT_S = 2.0

# KEYS: entry, index (zset key -> last use), sizes (hash key -> bytes), total (bytes counter)
# ARGV: data, ttl_s, now_s, max_total_bytes
_PUT = """
local function forget(k)
  local size = redis.call('HGET', KEYS[3], k)
  if size then redis.call('DECRBY', KEYS[4], size) end
  redis.call('HDEL', KEYS[3], k)
  redis.call('ZREM', KEYS[2], k)
end
local ttl, now, max_total = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
forget(KEYS[1])
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do
  redis.call('DEL', k)
  forget(k)
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], #ARGV[1])
local total = redis.call('INCRBY', KEYS[4], #ARGV[1])
while total > max_total do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  redis.call('DEL', oldest)
  forget(oldest)
  total = tonumber(redis.call('GET', KEYS[4]) or '0')
end
return total
"""


@dataclass(slots=True, frozen=True)
class TTSCacheSettings:
    prefix: str
    ttl_s: int = 30 * 24 * 3600
    max_bytes: int = 512 * 1024 * 1024
    max_entry_bytes: int = 4 * 1024 * 1024
    chunk_ms: float = 200.0


@dataclass(slots=True, frozen=True)
class TTSCacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def encode_entry(samples: Samples, sample_rate_hz: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return _HEADER.pack(_MAGIC, sample_rate_hz) + pcm


def decode_entry(data: bytes) -> tuple[Samples, int] | None:
    if len(data) < _HEADER.size:
        return None
    magic, rate = _HEADER.unpack_from(data)
    if magic != _MAGIC or rate <= 0:
        return None
    samples = np.frombuffer(data, dtype="<i2", offset=_HEADER.size).astype(np.float32) / 32768.0
    return samples, int(rate)


def cache_key_digest(engine_tag: str, text: str, voice: VoiceReference | None, params: SynthesisParams) -> str:
    ref_text = (voice.reference_text or "") if voice is not None else ""
    parts = [
        engine_tag,
        voice.voice_id if voice is not None else "",
        len(voice.samples) if voice is not None else 0,
        hashlib.sha256(ref_text.encode()).hexdigest(),
        params.language, round(params.speed, 4), round(params.pitch_semitones, 4),
        " ".join(text.split()),
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


class TTSCache:
    """The Redis side: lookups, bounded stores, hit/miss counters shared by every server process."""

    def __init__(self, redis: aioredis.Redis, settings: TTSCacheSettings) -> None:
        self._redis = redis
        self._settings = settings
        base = f"{settings.prefix}ttscache:"
        self._entry_prefix = f"{base}e:"
        self._index, self._sizes, self._total, self._counters = (
            f"{base}index", f"{base}sizes", f"{base}bytes", f"{base}counters")
        self._put = redis.register_script(_PUT)

    @property
    def settings(self) -> TTSCacheSettings:
        return self._settings

    def entry_key(self, digest: str) -> str:
        return self._entry_prefix + digest

    async def get(self, digest: str) -> bytes | None:
        key = self.entry_key(digest)
        async with asyncio.timeout(_REDIS_TIMEOUT_S):
            data = cast(bytes | None, await self._redis.get(key))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self._counters, "hits" if data is not None else "misses", 1)
            if data is not None:
                pipe.expire(key, self._settings.ttl_s)
                pipe.zadd(self._index, {key: time.time()}, xx=True)
            async with asyncio.timeout(_REDIS_TIMEOUT_S):
                await pipe.execute()
        return data

    async def put(self, digest: str, data: bytes) -> bool:
        s = self._settings
        if len(data) > s.max_entry_bytes or len(data) > s.max_bytes:
            return False
        async with asyncio.timeout(_REDIS_TIMEOUT_S):
            await self._put(keys=[self.entry_key(digest), self._index, self._sizes, self._total],
                            args=[data, s.ttl_s, time.time(), s.max_bytes])
        return True

    async def stats(self) -> TTSCacheStats:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._counters, ["hits", "misses"])
            pipe.zcard(self._index)
            pipe.get(self._total)
            async with asyncio.timeout(_REDIS_TIMEOUT_S):
                (hits, misses), entries, total = await pipe.execute()
        return TTSCacheStats(int(hits or 0), int(misses or 0), int(entries or 0), int(total or 0))


class CachedTTSEngine:
    """A ``TTSEngine`` that answers from ``TTSCache`` when it can and fills it from ``inner`` when it cannot."""

    def __init__(self, inner: TTSEngine, cache: TTSCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.sample_rate_hz = inner.sample_rate_hz
        self.requires_voice = inner.requires_voice

    @property
    def _tag(self) -> str:
        return str(getattr(self.inner, "cache_tag", self.inner.name))

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    async def prepare_voice(self, voice: VoiceReference) -> None:
        await self.inner.prepare_voice(voice)

    async def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        digest = cache_key_digest(self._tag, text, voice, params)
        try:
            data = await self.cache.get(digest)
        except (RedisError, TimeoutError, OSError) as exc:
            log.warning("synthesis cache lookup failed (%s); synthesizing", type(exc).__name__)
            data = None
        entry = decode_entry(data) if data is not None else None
        if entry is not None:
            samples, rate = entry
            step = max(1, int(rate * self.cache.settings.chunk_ms / 1000))
            for start in range(0, len(samples), step):
                yield AudioChunk(samples[start:start + step], rate)
            return
        parts: list[Samples] = []
        rate = self.sample_rate_hz
        async for chunk in self.inner.synthesize(text, voice, params):
            parts.append(chunk.samples)
            rate = chunk.sample_rate_hz
            yield chunk
        # Only a complete sentence reaches this line (a cancelled or failed stream leaves the generator earlier).
        if parts:
            try:
                await self.cache.put(digest, encode_entry(np.concatenate(parts), rate))
            except (RedisError, TimeoutError, OSError) as exc:
                log.warning("synthesis cache store failed (%s)", type(exc).__name__)


def with_tts_cache(engine: TTSEngine, redis: aioredis.Redis, settings: Settings) -> tuple[TTSEngine, TTSCache | None]:
    """Wrap ``engine`` in the synthesis cache when it is enabled; returns the engine to use and the cache."""
    if not settings.tts_cache_enabled or settings.tts_cache_max_bytes == 0:
        return engine, None
    cache = TTSCache(redis, TTSCacheSettings(
        prefix=settings.redis_prefix, ttl_s=settings.tts_cache_ttl_s, max_bytes=settings.tts_cache_max_bytes,
        max_entry_bytes=settings.tts_cache_max_entry_bytes))
    return CachedTTSEngine(engine, cache), cache
