"""The transport-agnostic core of a live voice-conversion session.

PCM frames of any size go in (``push``, never blocks); converted audio leaves through ``emit`` at the client's rate.
The converter runs on the device worker, one job at a time per session; input that arrives meanwhile is batched into
the next job. When the backlog of unconverted input passes ``max_backlog_ms`` the oldest excess is dropped and replaced
by the same length of silence, so the output keeps pace with the input and the delay stays bounded. Input that would
be dropped is let go as it arrives, so while the output waits (a client that does not acknowledge its audio) no more
than the backlog is held.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from realtime.frames import AudioFrame, DoneFrame
from synthesis.dsp.resample import StreamResampler
from synthesis.interfaces import Converter, Samples
from synthesis.worker import PRIORITY_LIVE, DeviceWorker

STATS_EVERY_S = 1.0
_PROC_WINDOW = 200
_DROP_FADE_SAMPLES = 64


@dataclass(slots=True)
class VCStatsFrame:
    latency_ms: float
    algorithmic_latency_ms: float
    proc_ms_p50: float
    proc_ms_p95: float
    backlog_ms: float
    input_ms: float
    output_ms: float
    dropped_ms: float

    def event(self) -> dict[str, object]:
        return {"type": "stats", **{k: round(getattr(self, k), 1) for k in self.__slots__}}


VCOutput = AudioFrame | VCStatsFrame | DoneFrame
Emit = Callable[[VCOutput], Awaitable[None]]


@dataclass(slots=True)
class VCCounters:
    input_samples: int = 0
    output_samples: int = 0
    dropped_samples: int = 0
    jobs: int = 0
    proc_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_PROC_WINDOW))


class VCSession:
    def __init__(self, converter: Converter, worker: DeviceWorker, emit: Emit, *, rate_hz: int,
                 max_backlog_ms: float = 300.0, job_timeout_s: float = 10.0) -> None:
        self._converter = converter
        self._worker = worker
        self._emit = emit
        self.rate_hz = rate_hz
        self._to_engine = StreamResampler(rate_hz, converter.sample_rate_hz)
        self._from_engine = StreamResampler(converter.sample_rate_hz, rate_hz)
        self._max_backlog = int(rate_hz * max_backlog_ms / 1000)
        self._job_timeout_s = job_timeout_s
        self._pending: deque[Samples] = deque()
        self._pending_samples = 0  # input not converted yet, the already let-go part (``_skipped``) included
        self._skipped = 0
        self._wake = asyncio.Event()
        self._ended = False
        self.counters = VCCounters()

    @property
    def algorithmic_latency_ms(self) -> float:
        return float(self._converter.latency_ms)

    @property
    def backlog_ms(self) -> float:
        return 1000.0 * self._pending_samples / self.rate_hz

    @property
    def held_ms(self) -> float:
        """Unconverted input kept in memory: at most the backlog limit plus one pushed frame."""
        return 1000.0 * self._held() / self.rate_hz

    def push(self, samples: Samples) -> None:
        if self._ended:
            return
        if len(samples):
            self._pending.append(np.asarray(samples, dtype=np.float32))
            self._pending_samples += len(samples)
            self.counters.input_samples += len(samples)
            while len(self._pending) > 1 and self._held() - len(self._pending[0]) >= self._max_backlog:
                self._skipped += len(self._pending.popleft())
            self._wake.set()

    def _held(self) -> int:
        return self._pending_samples - self._skipped

    def end(self) -> None:
        self._ended = True
        self._wake.set()

    def stats(self) -> VCStatsFrame:
        c = self.counters
        proc = np.asarray(c.proc_ms) if c.proc_ms else np.zeros(1)
        p50, p95 = (float(v) for v in np.percentile(proc, [50, 95]))
        rate = self.rate_hz / 1000.0
        return VCStatsFrame(
            latency_ms=self.algorithmic_latency_ms + p95 + self.backlog_ms,
            algorithmic_latency_ms=self.algorithmic_latency_ms, proc_ms_p50=p50, proc_ms_p95=p95,
            backlog_ms=self.backlog_ms, input_ms=c.input_samples / rate, output_ms=c.output_samples / rate,
            dropped_ms=c.dropped_samples / rate,
        )

    async def run(self) -> None:
        """Convert until ``end()``; then flush the converter and emit ``DoneFrame``. What ``emit`` raises (the
        client stalled, credits ran out) reaches the caller as itself, not inside an exception group."""
        try:
            async with asyncio.TaskGroup() as tg:
                stats_task = tg.create_task(self._report_stats())
                try:
                    await self._convert_loop()
                finally:
                    stats_task.cancel()
        except ExceptionGroup as group:
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
                raise group.exceptions[0] from None
            raise
        await self._emit(self.stats())
        await self._emit(DoneFrame(audio_ms=round(1000 * self.counters.output_samples / self.rate_hz)))

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            await self._emit(self.stats())

    async def _convert_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending_samples:
                skipped, batch = self._take()
                dropped = self._drop_excess(skipped + len(batch))
                if dropped:
                    await self._emit_audio(np.zeros(dropped, dtype=np.float32))
                    batch = batch[dropped - skipped:]
                    self._fade_in(batch)
                if len(batch):
                    await self._emit_audio(await self._run_job(functools.partial(self._convert, batch)))
            if self._ended and not self._pending_samples:
                await self._emit_audio(await self._run_job(self._finish))
                return

    def _take(self) -> tuple[int, Samples]:
        """(samples already let go, the input still held), and the backlog is empty again."""
        held = list(self._pending)
        batch = np.concatenate(held) if len(held) > 1 else held[0] if held else np.zeros(0, dtype=np.float32)
        skipped = self._skipped
        self._pending.clear()
        self._pending_samples = 0
        self._skipped = 0
        return skipped, batch

    def _drop_excess(self, pending_samples: int) -> int:
        excess = pending_samples - self._max_backlog
        if excess <= 0:
            return 0
        self.counters.dropped_samples += excess
        return excess

    @staticmethod
    def _fade_in(batch: Samples) -> None:
        n = min(_DROP_FADE_SAMPLES, len(batch))
        batch[:n] *= np.linspace(0.0, 1.0, n, dtype=np.float32)

    async def _run_job(self, fn: Callable[[], Samples]) -> Samples:
        start = time.perf_counter()
        out = await self._worker.submit(fn, priority=PRIORITY_LIVE, timeout_s=self._job_timeout_s)
        self.counters.proc_ms.append(1000 * (time.perf_counter() - start))
        self.counters.jobs += 1
        return out

    def _convert(self, batch: Samples) -> Samples:
        converted = self._converter.process(self._to_engine.process(batch))
        return self._from_engine.process(converted)

    def _finish(self) -> Samples:
        tail = self._converter.process(self._to_engine.flush())
        tail = np.concatenate([tail, self._converter.flush()])
        return np.concatenate([self._from_engine.process(tail), self._from_engine.flush()])

    async def _emit_audio(self, samples: Samples) -> None:
        if len(samples):
            self.counters.output_samples += len(samples)
            await self._emit(AudioFrame(samples.astype(np.float32, copy=False), self.rate_hz))
