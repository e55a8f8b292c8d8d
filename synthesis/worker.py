"""One worker per device: a bounded priority queue of jobs run on executor threads that own the models.

Heavy compute never runs on the event loop. A full queue is backpressure (``EngineError('busy')``). Jobs submitted
with ``submit_batched`` under the same batch key are taken off the queue together and run as one call.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from synthesis.interfaces import EngineError

T = TypeVar("T")
ItemT = TypeVar("ItemT")

PRIORITY_LIVE = 0
PRIORITY_FIRST = 10
PRIORITY_NORMAL = 20


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    fn: Callable[[], Any] | None = field(compare=False)
    future: asyncio.Future[Any] = field(compare=False)
    enqueued_at: float = field(compare=False)
    batch_key: Hashable | None = field(default=None, compare=False)
    batch_fn: Callable[[list[Any]], Sequence[Any]] | None = field(default=None, compare=False)
    item: Any = field(default=None, compare=False)
    max_batch: int = field(default=1, compare=False)


@dataclass(slots=True)
class WorkerStats:
    submitted: int = 0
    rejected_busy: int = 0
    completed: int = 0
    failed: int = 0
    queue_wait_ms_total: float = 0.0
    batches: int = 0
    batched_jobs: int = 0

    @property
    def mean_queue_wait_ms(self) -> float:
        done = self.completed + self.failed
        return self.queue_wait_ms_total / done if done else 0.0


class DeviceWorker:
    """Runs blocking jobs for one device, ``threads`` at a time, highest priority (lowest number) first."""

    def __init__(
        self, device: str, *, threads: int = 1, queue_size: int = 64, max_wait_s: float | None = None
    ) -> None:
        self.device = device
        self._threads = threads
        self._queue_size = queue_size
        self._max_wait_s = max_wait_s
        self._job_s_ewma = 0.0
        self._running = 0
        self._heap: list[_Job] = []
        self._ready = asyncio.Condition()
        self._seq = itertools.count()
        self._executor: ThreadPoolExecutor | None = None
        self._runners: list[asyncio.Task[None]] = []
        self.stats = WorkerStats()

    @property
    def queue_depth(self) -> int:
        return len(self._heap)

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix=f"worker-{self.device}")
        self._runners = [asyncio.create_task(self._run(), name=f"worker-{self.device}-{i}")
                         for i in range(self._threads)]

    async def stop(self) -> None:
        for task in self._runners:
            task.cancel()
        for task in self._runners:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._runners = []
        jobs, self._heap = self._heap, []
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(EngineError("shutting_down", "server is shutting down", retryable=True))
        if self._executor is not None:
            executor, self._executor = self._executor, None
            # Waits for a job still running on a thread, without blocking the event loop meanwhile.
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def run_sync(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on this device's thread directly (warm-up, no queue)."""
        assert self._executor is not None, "worker not started"
        return cast(T, await asyncio.get_running_loop().run_in_executor(self._executor, fn))

    async def submit(self, fn: Callable[[], T], *, priority: int = PRIORITY_NORMAL, timeout_s: float = 60.0) -> T:
        """Queue ``fn``; raise ``EngineError('busy')`` at once when the queue is full."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        result: T = await self._enqueue(_Job(priority, next(self._seq), fn, future, time.perf_counter()), timeout_s)
        return result

    async def submit_batched(
        self,
        key: Hashable,
        item: ItemT,
        run: Callable[[list[ItemT]], Sequence[T]],
        *,
        max_batch: int,
        priority: int = PRIORITY_NORMAL,
        timeout_s: float = 60.0,
    ) -> T:
        """Queue ``item``; queued items with the same ``key`` (up to ``max_batch``) run as one ``run(items)`` call.

        ``run`` must return one result per item, in order. Same backpressure as ``submit``.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        job = _Job(priority, next(self._seq), None, future, time.perf_counter(), key, run, item, max(1, max_batch))
        result: T = await self._enqueue(job, timeout_s)
        return result

    async def _enqueue(self, job: _Job, timeout_s: float) -> Any:
        if not self._runners:
            raise EngineError("not_ready", "worker is not running", retryable=True)
        if len(self._heap) >= self._queue_size:
            self._drop_abandoned()
        if len(self._heap) >= self._queue_size or self._expected_wait_s(job.priority) > (self._max_wait_s or 1e18):
            self.stats.rejected_busy += 1
            raise EngineError("busy", "the synthesis queue is full, try again shortly", retryable=True)
        heapq.heappush(self._heap, job)
        self.stats.submitted += 1
        async with self._ready:
            self._ready.notify()
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(job.future)
        except TimeoutError:
            job.future.cancel()
            raise EngineError("timeout", "synthesis took too long", retryable=True) from None
        except asyncio.CancelledError:
            job.future.cancel()
            raise

    def _expected_wait_s(self, priority: int) -> float:
        """Rough queue wait for a new job: jobs that would run before it times the recent mean job time."""
        if self._max_wait_s is None:
            return 0.0
        ahead = self._running + sum(1 for job in self._heap if job.priority <= priority and not job.future.done())
        return ahead * self._job_s_ewma / self._threads

    def _drop_abandoned(self) -> None:
        kept = [job for job in self._heap if not job.future.done()]
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)

    async def _next_group(self) -> list[_Job]:
        async with self._ready:
            while True:
                await self._ready.wait_for(lambda: bool(self._heap))
                job = heapq.heappop(self._heap)
                if not job.future.done():
                    break
        if job.batch_key is None or job.max_batch == 1:
            return [job]
        group, rest = [job], []
        for other in sorted(self._heap):
            if len(group) < job.max_batch and other.batch_key == job.batch_key and not other.future.done():
                group.append(other)
            else:
                rest.append(other)
        if len(group) > 1:
            self._heap = rest
            heapq.heapify(self._heap)
        return group

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        while True:
            group = await self._next_group()
            now = time.perf_counter()
            for job in group:
                self.stats.queue_wait_ms_total += 1000 * (now - job.enqueued_at)
            head = group[0]
            self._running += 1
            try:
                if head.batch_fn is None:
                    assert head.fn is not None
                    results: Sequence[Any] = [await loop.run_in_executor(self._executor, head.fn)]
                else:
                    results = await loop.run_in_executor(
                        self._executor, functools.partial(head.batch_fn, [job.item for job in group]))
                    self.stats.batches += 1
                    self.stats.batched_jobs += len(group)
                    if len(results) != len(group):
                        raise RuntimeError(f"batch function returned {len(results)} results for {len(group)} items")
            except asyncio.CancelledError:
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(EngineError("shutting_down", "server is shutting down",
                                                             retryable=True))
                raise
            except Exception as exc:  # delivered to the submitters, who own the error
                self.stats.failed += len(group)
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(exc)
            else:
                self.stats.completed += len(group)
                for job, result in zip(group, results, strict=True):
                    if not job.future.done():
                        job.future.set_result(result)
            finally:
                self._running -= 1
                took_s = time.perf_counter() - now
                self._job_s_ewma = took_s if self._job_s_ewma == 0.0 else 0.8 * self._job_s_ewma + 0.2 * took_s
