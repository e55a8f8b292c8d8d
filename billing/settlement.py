"""Periodic settlement: keeps this process's heartbeat alive, writes live sessions' usage to the ledger, and
settles sessions orphaned by dead processes (also once at start-up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from billing.errors import UNREACHABLE
from billing.metering import Metering

log = logging.getLogger(__name__)

_STEP_TIMEOUT_S = 30.0


class Settler:
    def __init__(self, metering: Metering, interval_s: float, owner_ttl_s: float) -> None:
        self._metering = metering
        self._interval_s = interval_s
        self._ttl_ms = int(owner_ttl_s * 1000)
        # The heartbeat has its own loop so that slow settlement work never lets it lapse.
        self._beat_s = min(1.0, owner_ttl_s / 5)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> int:
        """Announce this process, settle orphans left by dead ones, then settle periodically.
        Returns the number of orphaned sessions settled now. Never fails because of stored sessions: what
        cannot be settled now is left to the periodic rounds."""
        self._stopping.clear()
        await self._metering.store.heartbeat(self._metering.owner, self._ttl_ms)
        reaped = 0
        try:
            async with asyncio.timeout(_STEP_TIMEOUT_S):
                reaped = await self._metering.reap_orphans()
        except Exception as exc:
            log.warning("settling orphaned sessions at start-up failed (%s); retrying every %.0f s",
                        type(exc).__name__, self._interval_s)
        self._tasks = [asyncio.create_task(self._heartbeat_loop(), name="billing-heartbeat"),
                       asyncio.create_task(self._settle_loop(), name="billing-settler")]
        return reaped

    async def stop(self) -> None:
        """Settle what is still open one last time; withdraw the heartbeat (so peers may reap at once)."""
        # The loops also watch the event: a cancel can be lost inside redis-py (its sends use asyncio.wait_for,
        # which on Python 3.11 drops a cancellation that arrives as the send completes).
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_STEP_TIMEOUT_S):
                await self.settle_live()
        with contextlib.suppress(Exception):
            await self._metering.store.drop_heartbeat(self._metering.owner)

    async def settle_live(self) -> None:
        """Write every live session's usage so far; one that fails does not hold back the others (its totals
        stay in the meter and are written at its end, or by the reaper)."""
        failed: Exception | None = None
        for meter in self._metering.live_meters():
            try:
                await meter.settle()
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    async def step(self) -> None:
        try:
            await self.settle_live()
        finally:
            await self._metering.reap_orphans()

    async def _heartbeat_loop(self) -> None:
        failing = False  # an outage is logged when it starts and when it ends, not every beat
        while await self._pause(self._beat_s):
            try:
                async with asyncio.timeout(self._beat_s * 2):
                    await self._metering.store.heartbeat(self._metering.owner, self._ttl_ms)
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                if not failing:
                    log.warning("billing heartbeat failed: %s; retrying every %.1f s", type(exc).__name__,
                                self._beat_s)
                failing = True
            except Exception:
                log.exception("billing heartbeat failed")
            else:
                if failing:
                    log.warning("billing heartbeat restored")
                failing = False

    async def _settle_loop(self) -> None:
        while await self._pause(self._interval_s):
            try:
                async with asyncio.timeout(_STEP_TIMEOUT_S):
                    await self.step()
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                # Redis or PostgreSQL outage: the next step retries; nothing is lost (meters keep totals).
                log.warning("billing settlement step failed: %s unreachable", type(exc).__name__)
            except Exception:
                log.exception("billing settlement step failed")

    async def _pause(self, seconds: float) -> bool:
        """Sleep; False once stopping."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return not self._stopping.is_set()
