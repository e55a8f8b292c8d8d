"""Metering of streaming sessions: a Redis reservation drawn down as audio is delivered, then settled.

A transport uses one ``SessionMeter`` per session::

    meter = await metering.open(account_id, "tts", tag)      # InsufficientCredits at zero balance
    allowed_ms = await meter.authorize(chunk_ms)            # before sending: how much of it is paid for
    ... send at most allowed_ms of the chunk ...
    update = await meter.charge_delivered(sent_ms)          # after the bytes were sent
    ... send update.event(); stop with insufficient_credits when update.exhausted ...
    await meter.close()                                     # always (finally)

A transport that cannot cut a chunk may skip ``authorize`` and charge whole chunks: the overdraw of one
session is then bounded by one chunk instead of zero.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from billing import pricing
from billing.config import BillingConfig
from billing.errors import UNREACHABLE, BillingUnavailable, InsufficientCredits
from billing.ledger import PERMANENT_ERRORS, Ledger, SessionTotals
from billing.reservations import EXISTS, NO_SESSION, NOT_LOADED, OK, Reply, ReservationStore, StoredSession

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 6
# A rebuild retries while the account's sessions keep changing (right after a Redis flush every live session
# re-registers); the jittered pause lets them settle down.
_LOAD_ATTEMPTS = 40
_LOAD_BACKOFF_S = 0.005


@dataclass(slots=True, frozen=True)
class UsageUpdate:
    """Where a session stands after a charge (cumulative for the session)."""

    audio_ms: int
    used_mc: int
    left_mc: int
    exhausted: bool
    report: bool = False  # set by SampleMeter when a usage event is due

    def event(self) -> dict[str, Any]:
        """The ``usage`` event of the streaming protocols."""
        return {
            "type": "usage",
            "audio_ms": self.audio_ms,
            "credits_used": pricing.credits_from_millicredits(self.used_mc),
            "credits_left": pricing.credits_from_millicredits(max(0, self.left_mc)),
        }


class Metering:
    """Opens session meters and keeps the registry of this process's live ones (for periodic settlement)."""

    def __init__(self, config: BillingConfig, store: ReservationStore, ledger: Ledger, owner: str) -> None:
        self.config = config
        self.store = store
        self.ledger = ledger
        self.owner = owner
        self._live: dict[str, SessionMeter] = {}
        self._opening: set[str] = set()

    def live_meters(self) -> list[SessionMeter]:
        return list(self._live.values())

    async def open(
        self, account_id: uuid.UUID, operation: str, tag: str | None = None, session_id: str | None = None
    ) -> SessionMeter:
        """Start metering a session: registers it and reserves one quantum (less when the balance is lower).
        Raises InsufficientCredits when nothing is left, BillingUnavailable when Redis or PostgreSQL fail."""
        rate = self.config.rates.millicredits_per_min(operation)
        sid = session_id or uuid.uuid4().hex
        want = pricing.cost_millicredits(self.config.quantum_ms, rate)
        acct = str(account_id)
        self._opening.add(sid)  # the reaper must not take it for an orphan before it is registered
        try:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    reply = await self.store.open(acct, sid, self.owner, operation, tag, want)
                    if reply.status == NOT_LOADED:
                        await self.load_account(account_id)
                        continue
                except (redis.exceptions.RedisError, OSError) as exc:
                    raise BillingUnavailable("billing store unreachable") from exc
                if reply.status == EXISTS:
                    raise ValueError(f"session {sid} is already metered")
                if reply.status != OK:
                    raise InsufficientCredits("no credits left; top up to continue")
                meter = SessionMeter(
                    self, account_id, sid, operation, tag, rate, reserved_mc=reply.reserved_mc,
                    avail_mc=reply.avail_mc,
                )
                self._live[sid] = meter
                return meter
        finally:
            self._opening.discard(sid)
        raise BillingUnavailable("could not load the account balance")

    def forget(self, session_id: str) -> None:
        self._live.pop(session_id, None)

    async def load_account(self, account_id: uuid.UUID) -> None:
        """Rebuild the cached balance from the ledger (truth) and the sessions Redis knows about.
        Raises BillingUnavailable when Redis or PostgreSQL cannot be reached."""
        acct = str(account_id)
        try:
            for attempt in range(_LOAD_ATTEMPTS):
                ver, sids = await self.store.load_inputs(acct)
                ledger_sum, settled = await self.ledger.snapshot(account_id, sids)
                if await self.store.load(acct, ver, ledger_sum, settled):
                    return
                await asyncio.sleep(random.uniform(0, _LOAD_BACKOFF_S * min(attempt + 1, 10)))
        except UNREACHABLE as exc:
            raise BillingUnavailable("billing store unreachable") from exc
        raise BillingUnavailable("account balance kept changing while loading")

    async def available_mc(self, account_id: uuid.UUID) -> int:
        """Credits free to spend now (ledger minus unsettled usage and reservations)."""
        for _ in range(_MAX_ATTEMPTS):
            try:
                value = await self.store.cached_avail(str(account_id))
            except UNREACHABLE as exc:
                raise BillingUnavailable("billing store unreachable") from exc
            if value is not None:
                return value
            await self.load_account(account_id)
        raise BillingUnavailable("could not load the account balance")

    async def reap_orphans(self) -> int:
        """Settle and release sessions whose process died (or that ended unsettled); returns how many.

        Each session is settled on its own: one that can never be settled (the ledger refuses its values) is
        quarantined and the others go on. An outage (Redis or PostgreSQL unreachable) stops the round; the
        next one retries."""
        reaped = 0
        for s in await self.store.stored_sessions():
            if s.owner == self.owner and (s.session_id in self._live or s.session_id in self._opening):
                continue
            if s.owner != self.owner and not s.closed and await self.store.owner_alive(s.owner):
                continue
            try:
                totals = SessionTotals(
                    s.session_id, uuid.UUID(s.account_id), s.operation, s.tag, s.charged_mc, s.audio_ms
                )
                await self.ledger.settle_session(totals, closed=True)
            except PERMANENT_ERRORS as exc:
                await self._quarantine(s, exc)
                continue
            await self.store.release(s.account_id, s.session_id)
            reaped += 1
        return reaped

    async def _quarantine(self, s: StoredSession, exc: Exception) -> None:
        # Moved out of the reaper's set, so this is logged once; its totals stay in Redis for an operator.
        await self.store.quarantine(s, type(exc).__name__)
        log.error("billing session %s (account %s) cannot be settled (%s); quarantined under %s",
                  s.session_id, s.account_id, type(exc).__name__, self.store.quarantine_key)


class SessionMeter:
    """One session's meter. Its local totals are the truth for the session; Redis mirrors them on every call.

    The ledger is only given totals Redis has confirmed (``_synced_*``) while the session runs: a rebuild of
    the cached balance counts a session's usage as ledger + (Redis total - settled), which must never go
    negative, or a charge still in flight would be subtracted twice."""

    def __init__(
        self,
        metering: Metering,
        account_id: uuid.UUID,
        session_id: str,
        operation: str,
        tag: str | None,
        rate_mc_per_min: int,
        *,
        reserved_mc: int,
        avail_mc: int,
    ) -> None:
        self._m = metering
        self.account_id = account_id
        self.session_id = session_id
        self.operation = operation
        self.tag = tag
        self.rate_mc_per_min = rate_mc_per_min
        self._acct = str(account_id)
        self._delivered_ms = 0
        self._charged_mc = 0
        self._synced = (0, 0)  # (charged_mc, delivered_ms) as Redis last confirmed them
        self._redis_behind = False  # a Redis call failed: the local totals are ahead of Redis
        self._settled = (0, 0)
        self._reserved_mc = reserved_mc
        self._avail_mc = avail_mc
        self._closed = False
        self._lock = asyncio.Lock()
        self._settle_lock = asyncio.Lock()

    @property
    def delivered_ms(self) -> int:
        return self._delivered_ms

    @property
    def charged_mc(self) -> int:
        return self._charged_mc

    @property
    def closed(self) -> bool:
        return self._closed

    def totals(self, *, local: bool = False) -> SessionTotals:
        charged, delivered = (self._charged_mc, self._delivered_ms) if local else self._synced
        return SessionTotals(self.session_id, self.account_id, self.operation, self.tag, charged, delivered)

    def _update(self) -> UsageUpdate:
        # Run out = nothing reserved and nothing left to reserve. What rounding already paid for (under one
        # millicredit) is not worth another chunk: a transport that charges without asking would overdraw.
        exhausted = self._reserved_mc + max(0, self._avail_mc) <= 0
        return UsageUpdate(self._delivered_ms, self._charged_mc, self._reserved_mc + self._avail_mc, exhausted)

    async def _call(self, op: str, amount: int = 0) -> Reply:
        """Run one reservation script, repairing a flushed/restarted Redis on the way."""
        store = self._m.store
        for _ in range(_MAX_ATTEMPTS):
            totals = (self._charged_mc, self._delivered_ms)
            if op == "reserve":
                reply = await store.reserve(self._acct, self.session_id, amount)
            else:
                reply = await store.charge(self._acct, self.session_id, *totals)
            if reply.status == NOT_LOADED:
                await self._m.load_account(self.account_id)
            elif reply.status == NO_SESSION:
                # Redis lost the session (flush, restart, or a peer took this process for dead): put it back.
                await store.reregister(self._acct, self.session_id, self._m.owner, self.operation, self.tag,
                                       *totals)
                self._synced = totals
                self._reserved_mc = 0
            else:
                if op == "charge":
                    self._synced = totals
                    self._redis_behind = False
                return reply
        raise BillingUnavailable("billing store kept changing")

    async def authorize(self, audio_ms: int) -> int:
        """Before sending ``audio_ms`` of audio: how many of those milliseconds are paid for (0 = none left).
        Tops the reservation up by at least one quantum when it does not cover them."""
        if audio_ms < 0:
            raise ValueError("audio_ms must be >= 0")
        async with self._lock:
            if self._closed:
                return 0
            need = pricing.reservation_needed(self._delivered_ms, audio_ms, self._reserved_mc,
                                              self.rate_mc_per_min, self._m.config.quantum_ms)
            if need > 0:
                try:
                    reply = await self._call("reserve", need)
                    self._reserved_mc, self._avail_mc = reply.reserved_mc, reply.avail_mc
                except (redis.exceptions.RedisError, OSError, BillingUnavailable) as exc:
                    if self._reserved_mc <= 0:
                        raise BillingUnavailable("billing store unreachable") from exc
            return min(audio_ms, pricing.payable_ms(self._delivered_ms, self._reserved_mc, self.rate_mc_per_min))

    async def charge_delivered(self, audio_ms: int) -> UsageUpdate:
        """After ``audio_ms`` of audio reached the client: charge it (never refused: it was delivered)."""
        if audio_ms < 0:
            raise ValueError("audio_ms must be >= 0")
        async with self._lock:
            if self._closed:
                raise RuntimeError("meter is closed")
            before = self._charged_mc
            self._delivered_ms += audio_ms
            self._charged_mc = pricing.cost_millicredits(self._delivered_ms, self.rate_mc_per_min)
            try:
                reply = await self._call("charge")
                self._reserved_mc, self._avail_mc = reply.reserved_mc, reply.avail_mc
            except (redis.exceptions.RedisError, OSError, BillingUnavailable):
                # Redis is unreachable: count locally (settlement then uses these totals); sync next call.
                self._redis_behind = True
                delta = self._charged_mc - before
                take = min(delta, self._reserved_mc)
                self._reserved_mc -= take
                self._avail_mc -= delta - take
            return self._update()

    async def settle(self, *, final: bool = False) -> None:
        """Write unsettled usage to the ledger (periodically, and with ``final`` once at the end)."""
        async with self._settle_lock:
            totals = self.totals(local=final or self._redis_behind)
            key = (totals.charged_mc, totals.audio_ms)
            if key == self._settled and not final:
                return
            await self._m.ledger.settle_session(totals, closed=final)
            self._settled = max(self._settled, key)

    async def close(self) -> UsageUpdate:
        """Settle, give back the unused reservation, stop metering. Idempotent; call it in ``finally``."""
        async with self._lock:
            if self._closed:
                return self._update()
            self._closed = True
            store = self._m.store
            try:
                synced = True
                try:
                    await self._call("charge")  # Redis first: the ledger never runs ahead of it
                except (redis.exceptions.RedisError, OSError, BillingUnavailable):
                    synced = False
                try:
                    await self.settle(final=True)
                except Exception:
                    # The ledger is unreachable: Redis holds the totals; the reaper settles them later.
                    if synced:
                        await self._best_effort_mark_closed()
                    raise
                released = 0
                if synced:
                    try:
                        released = await store.release(self._acct, self.session_id)
                    except (redis.exceptions.RedisError, OSError):
                        pass
                self._avail_mc += released
                self._reserved_mc = 0
                return self._update()
            finally:
                self._m.forget(self.session_id)

    async def _best_effort_mark_closed(self) -> None:
        try:
            await self._m.store.mark_closed(self._acct, self.session_id)
        except (redis.exceptions.RedisError, OSError):
            pass

    async def __aenter__(self) -> SessionMeter:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
