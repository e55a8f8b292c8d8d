"""A deterministic test engine with knobs (latency, failures). Speaks a tone per sentence; no model needed."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from synthesis.interfaces import AudioChunk, EngineError, Samples, SynthesisParams, VoiceReference
from synthesis.worker import PRIORITY_FIRST, PRIORITY_NORMAL, DeviceWorker


@dataclass(slots=True, frozen=True)
class FakeTTSSettings:
    ms_per_char: float = 60.0
    chunk_ms: int = 200
    latency_ms_per_chunk: float = 0.0
    fail_after_chunks: int = -1
    fail_retryable: bool = False


class FakeTTSEngine:
    name = "fake"
    requires_voice = False
    sample_rate_hz = 24000

    def __init__(self, worker: DeviceWorker, settings: FakeTTSSettings | None = None) -> None:
        self._worker = worker
        self._settings = settings or FakeTTSSettings()
        self._chunks_made = 0

    async def warm_up(self) -> None:
        return None

    async def prepare_voice(self, voice: VoiceReference) -> None:
        return None

    async def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        if not text.strip():
            raise EngineError("empty_text", "nothing to say")
        s = self._settings
        total = int(self.sample_rate_hz * len(text) * s.ms_per_char / 1000 / params.speed)
        step = self.sample_rate_hz * s.chunk_ms // 1000
        freq = 220.0 * 2 ** (params.pitch_semitones / 12)
        for i, start in enumerate(range(0, total, step)):
            if s.fail_after_chunks >= 0 and self._chunks_made >= s.fail_after_chunks:
                raise EngineError("engine_failed", "fake engine failure", retryable=s.fail_retryable)
            n = min(step, total - start)
            priority = PRIORITY_FIRST if i == 0 else PRIORITY_NORMAL
            chunk = await self._worker.submit(functools.partial(self._tone, start, n, freq), priority=priority)
            if s.latency_ms_per_chunk:
                await asyncio.sleep(s.latency_ms_per_chunk / 1000)
            self._chunks_made += 1
            yield AudioChunk(chunk, self.sample_rate_hz)

    def _tone(self, start: int, n: int, freq: float) -> Samples:
        t = (np.arange(start, start + n) / self.sample_rate_hz).astype(np.float64)
        return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
