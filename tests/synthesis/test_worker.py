"""DeviceWorker: priorities, backpressure, batching (real threads, no model)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from synthesis.interfaces import EngineError
from synthesis.worker import PRIORITY_FIRST, PRIORITY_LIVE, PRIORITY_NORMAL, DeviceWorker
from tests.helpers import wait_until


async def _blocked_worker(queue_size: int = 16) -> tuple[DeviceWorker, threading.Event, asyncio.Future[object]]:
    """A one-thread worker whose thread is busy with a job that runs until ``release`` is set."""
    worker = DeviceWorker("cpu", threads=1, queue_size=queue_size)
    await worker.start()
    release, running = threading.Event(), threading.Event()

    def block() -> bool:
        running.set()
        return release.wait(30)

    blocker: asyncio.Future[object] = asyncio.ensure_future(worker.submit(block))
    await wait_until(running.is_set)
    return worker, release, blocker


async def test_priority_order() -> None:
    worker, release, blocker = await _blocked_worker()
    order: list[str] = []
    try:
        jobs = [asyncio.ensure_future(worker.submit(lambda n=name: order.append(n), priority=p))
                for name, p in [("normal", PRIORITY_NORMAL), ("first", PRIORITY_FIRST), ("live", PRIORITY_LIVE)]]
        await wait_until(lambda: worker.queue_depth == 3)
        release.set()
        await asyncio.gather(blocker, *jobs)
        assert order == ["live", "first", "normal"]
    finally:
        release.set()
        await worker.stop()


async def test_full_queue_rejects_at_once_and_abandoned_jobs_free_their_place() -> None:
    worker, release, blocker = await _blocked_worker(queue_size=1)
    try:
        waiting = asyncio.ensure_future(worker.submit(lambda: 1))
        await wait_until(lambda: worker.queue_depth == 1)
        with pytest.raises(EngineError) as info:
            await worker.submit(lambda: 2)
        assert info.value.code == "busy" and worker.stats.rejected_busy == 1
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        third = asyncio.ensure_future(worker.submit(lambda: 3))
        await wait_until(lambda: worker.queue_depth == 1)
        release.set()
        assert await third == 3
        await blocker
    finally:
        release.set()
        await worker.stop()


async def test_same_key_jobs_run_as_one_batch_with_results_in_order() -> None:
    worker, release, blocker = await _blocked_worker()
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    try:
        jobs = [asyncio.ensure_future(worker.submit_batched("k", i, run, max_batch=3)) for i in range(5)]
        other = asyncio.ensure_future(worker.submit_batched("other", 99, run, max_batch=3))
        await wait_until(lambda: worker.queue_depth == 6)
        release.set()
        results = await asyncio.gather(*jobs, other)
        assert results == [0, 10, 20, 30, 40, 990]
        assert sorted(len(c) for c in calls) == [1, 2, 3]
        assert worker.stats.batched_jobs == 6 and worker.stats.batches == 3
        await blocker
    finally:
        release.set()
        await worker.stop()


async def test_a_failing_batch_fails_each_of_its_jobs() -> None:
    worker, release, blocker = await _blocked_worker()

    def run(items: list[int]) -> list[int]:
        raise ValueError("model exploded")

    try:
        jobs = [asyncio.ensure_future(worker.submit_batched("k", i, run, max_batch=4)) for i in range(2)]
        await wait_until(lambda: worker.queue_depth == 2)
        release.set()
        results = await asyncio.gather(*jobs, return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        assert worker.stats.failed == 2
        await blocker
    finally:
        release.set()
        await worker.stop()


async def test_stop_fails_queued_and_running_jobs() -> None:
    worker, release, blocker = await _blocked_worker()
    queued = asyncio.ensure_future(worker.submit(lambda: 1))
    await wait_until(lambda: worker.queue_depth == 1)
    stopper = asyncio.ensure_future(worker.stop())
    results = await asyncio.gather(queued, blocker, return_exceptions=True)
    release.set()
    await stopper
    assert all(isinstance(r, EngineError) and r.code == "shutting_down" for r in results), results


async def test_a_job_expected_to_wait_too_long_is_refused_at_once() -> None:
    worker = DeviceWorker("cpu", threads=1, queue_size=64, max_wait_s=0.5)
    await worker.start()
    try:
        await worker.submit(lambda: threading.Event().wait(0.2))  # teaches the worker: a job takes ~0.2 s
        release, running = threading.Event(), threading.Event()
        blocker = asyncio.ensure_future(worker.submit(lambda: running.set() or release.wait(30)))
        await wait_until(running.is_set)
        queued = [asyncio.ensure_future(worker.submit(lambda: None)) for _ in range(2)]
        await wait_until(lambda: worker.queue_depth == 2)
        with pytest.raises(EngineError) as info:  # 3 jobs ahead x 0.2 s > 0.5 s
            await worker.submit(lambda: None)
        assert info.value.code == "busy"
        live = asyncio.ensure_future(worker.submit(lambda: "live", priority=PRIORITY_LIVE))
        await wait_until(lambda: worker.queue_depth == 3)
        release.set()
        assert await live == "live", "higher-priority work only counts the jobs ahead of it"
        await asyncio.gather(blocker, *queued)
    finally:
        await worker.stop()
