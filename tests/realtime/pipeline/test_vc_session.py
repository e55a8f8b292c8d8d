"""The live-conversion core on its own, with a pass-through converter: what it holds while its output waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from realtime.frames import AudioFrame
from realtime.pipeline.vc_session import VCOutput, VCSession
from synthesis.interfaces import Samples
from synthesis.worker import DeviceWorker

RATE = 16_000
FRAME = RATE // 50  # 20 ms


class PassThrough:
    """A converter that changes nothing and holds nothing."""

    sample_rate_hz = RATE
    latency_ms = 0.0

    def process(self, block: Samples) -> Samples:
        return block.copy()

    def flush(self) -> Samples:
        return np.zeros(0, dtype=np.float32)


@pytest.fixture
async def worker() -> AsyncIterator[DeviceWorker]:
    w = DeviceWorker("cpu", threads=1, queue_size=16)
    await w.start()
    yield w
    await w.stop()


async def test_input_behind_a_waiting_output_is_let_go_beyond_the_backlog(worker: DeviceWorker) -> None:
    out: list[Samples] = []
    first_audio, release = asyncio.Event(), asyncio.Event()

    async def emit(frame: VCOutput) -> None:
        if isinstance(frame, AudioFrame):
            first_audio.set()
            await release.wait()  # a client that does not acknowledge: the stream's output waits
            out.append(frame.samples)

    session = VCSession(PassThrough(), worker, emit, rate_hz=RATE, max_backlog_ms=300)
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(session.run())
        session.push(np.full(FRAME, 0.1, dtype=np.float32))
        await first_audio.wait()
        for i in range(500):  # 10 s of input while nothing leaves
            session.push(np.full(FRAME, 0.2 + i / 1000, dtype=np.float32))
            assert session.held_ms <= 300 + 20
        assert session.backlog_ms == pytest.approx(10_000)
        release.set()
        session.end()
        await run
    y = np.concatenate(out)
    c = session.counters
    assert len(y) == c.output_samples == c.input_samples == 501 * FRAME  # silence stands in for what was let go
    assert c.dropped_samples == 500 * FRAME - 300 * RATE // 1000
    tail = y[-300 * RATE // 1000:]
    assert np.all(y[FRAME:-len(tail)] == 0) and np.allclose(tail[-FRAME:], 0.2 + 499 / 1000)  # the newest is kept
