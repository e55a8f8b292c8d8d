"""Redis adapter for account balances and session reservations. Redis only caches: every value here can be
rebuilt from PostgreSQL plus the live sessions' own totals (see billing/redis_lua.py for the key layout)."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

from billing import redis_lua

log = logging.getLogger(__name__)

OK, REFUSED, NOT_LOADED, NO_SESSION, EXISTS, RACED = 1, 0, -1, -2, -3, -4


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(slots=True, frozen=True)
class Reply:
    status: int
    reserved_mc: int
    avail_mc: int


@dataclass(slots=True, frozen=True)
class StoredSession:
    """A session as Redis holds it (for the orphan reaper)."""

    account_id: str
    session_id: str
    owner: str
    operation: str
    tag: str | None
    charged_mc: int
    audio_ms: int
    closed: bool


class ReservationStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, owner_ttl_ms: int = 15_000) -> None:
        self._redis = redis
        self._prefix = prefix
        self.owner_ttl_ms = owner_ttl_ms
        self._open = redis.register_script(redis_lua.OPEN)
        self._reserve = redis.register_script(redis_lua.RESERVE)
        self._charge = redis.register_script(redis_lua.CHARGE)
        self._release = redis.register_script(redis_lua.RELEASE)
        self._mark_closed = redis.register_script(redis_lua.MARK_CLOSED)
        self._quarantine = redis.register_script(redis_lua.QUARANTINE)
        self._reregister = redis.register_script(redis_lua.REREGISTER)
        self._invalidate = redis.register_script(redis_lua.INVALIDATE)
        self._load = redis.register_script(redis_lua.LOAD)

    # keys -------------------------------------------------------------------------------------------------
    def _acct(self, account_id: str, suffix: str) -> str:
        return f"{self._prefix}bill:{{{account_id}}}:{suffix}"

    def _sess(self, account_id: str, session_id: str) -> str:
        return self._acct(account_id, f"s:{session_id}")

    @property
    def live_key(self) -> str:
        return f"{self._prefix}bill:live"

    @property
    def quarantine_key(self) -> str:
        return f"{self._prefix}bill:quarantine"

    def owner_key(self, owner: str) -> str:
        return f"{self._prefix}bill:owner:{owner}"

    @staticmethod
    def _member(account_id: str, session_id: str) -> str:
        return f"{account_id}|{session_id}"

    @staticmethod
    def _reply(raw: Any) -> Reply:
        return Reply(int(raw[0]), int(raw[1]), int(raw[2]))

    # sessions ---------------------------------------------------------------------------------------------
    async def open(
        self, account_id: str, session_id: str, owner: str, operation: str, tag: str | None, want_mc: int
    ) -> Reply:
        keys = [
            self._acct(account_id, "avail"),
            self._acct(account_id, "sessions"),
            self._sess(account_id, session_id),
            self.live_key,
            self.owner_key(owner),
        ]
        argv: list[str | int] = [
            session_id,
            owner,
            operation,
            tag or "",
            want_mc,
            self._member(account_id, session_id),
            self.owner_ttl_ms,
        ]
        return self._reply(await self._open(keys=keys, args=argv))

    async def reserve(self, account_id: str, session_id: str, want_mc: int) -> Reply:
        keys = [self._acct(account_id, "avail"), self._sess(account_id, session_id),
                self._acct(account_id, "sessions")]
        return self._reply(await self._reserve(keys=keys, args=[want_mc, session_id]))

    async def charge(
        self, account_id: str, session_id: str, charged_total_mc: int, audio_total_ms: int
    ) -> Reply:
        keys = [self._acct(account_id, "avail"), self._sess(account_id, session_id),
                self._acct(account_id, "sessions")]
        return self._reply(await self._charge(keys=keys, args=[charged_total_mc, audio_total_ms, session_id]))

    async def release(self, account_id: str, session_id: str) -> int:
        keys = [
            self._acct(account_id, "avail"),
            self._acct(account_id, "ver"),
            self._acct(account_id, "sessions"),
            self._sess(account_id, session_id),
            self.live_key,
        ]
        argv = [session_id, self._member(account_id, session_id), uuid.uuid4().hex]
        return int(await self._release(keys=keys, args=argv))

    async def mark_closed(self, account_id: str, session_id: str) -> int:
        keys = [self._acct(account_id, "avail"), self._sess(account_id, session_id)]
        return int(await self._mark_closed(keys=keys, args=[]))

    async def quarantine(self, session: StoredSession, reason: str) -> None:
        """Set aside a session the ledger refuses, so that the reaper stops retrying it."""
        member = self._member(session.account_id, session.session_id)
        keys = [self._acct(session.account_id, "avail"), self._sess(session.account_id, session.session_id),
                self.live_key, self.quarantine_key]
        record = json.dumps({**asdict(session), "reason": reason})
        await self._quarantine(keys=keys, args=[member, record])

    async def quarantined_count(self) -> int:
        return int(await self._redis.hlen(self.quarantine_key))

    async def reregister(
        self,
        account_id: str,
        session_id: str,
        owner: str,
        operation: str,
        tag: str | None,
        charged_mc: int,
        audio_ms: int,
    ) -> bool:
        keys = [
            self._acct(account_id, "avail"),
            self._acct(account_id, "ver"),
            self._acct(account_id, "sessions"),
            self._sess(account_id, session_id),
            self.live_key,
            self.owner_key(owner),
        ]
        argv: list[str | int] = [
            session_id,
            owner,
            operation,
            tag or "",
            charged_mc,
            audio_ms,
            uuid.uuid4().hex,
            self._member(account_id, session_id),
            self.owner_ttl_ms,
        ]
        return bool(await self._reregister(keys=keys, args=argv))

    # account cache ----------------------------------------------------------------------------------------
    async def invalidate(self, account_id: str) -> None:
        """Drop the cached balance after the ledger changed outside metering (purchase, refund)."""
        keys = [self._acct(account_id, "avail"), self._acct(account_id, "ver")]
        await self._invalidate(keys=keys, args=[uuid.uuid4().hex])

    async def load_inputs(self, account_id: str) -> tuple[str, list[str]]:
        """What a loader must read *before* its PostgreSQL snapshot: the version token and the session ids."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._acct(account_id, "ver"))
            pipe.smembers(self._acct(account_id, "sessions"))
            ver, members = await pipe.execute()
        return (ver.decode() if ver else ""), sorted(m.decode() for m in members)

    async def load(
        self, account_id: str, expected_ver: str, ledger_sum_mc: int, settled_mc: dict[str, int]
    ) -> bool:
        keys = [
            self._acct(account_id, "avail"),
            self._acct(account_id, "ver"),
            self._acct(account_id, "sessions"),
        ]
        argv: list[str | int] = [expected_ver, ledger_sum_mc, len(settled_mc)]
        for sid, value in settled_mc.items():
            argv += [sid, value]
        raw = await self._load(keys=keys, args=argv)
        return int(raw[0]) == OK

    async def cached_avail(self, account_id: str) -> int | None:
        raw = await self._redis.get(self._acct(account_id, "avail"))
        return int(raw) if raw is not None else None

    # liveness ---------------------------------------------------------------------------------------------
    async def heartbeat(self, owner: str, ttl_ms: int) -> None:
        await self._redis.set(self.owner_key(owner), b"1", px=ttl_ms)

    async def drop_heartbeat(self, owner: str) -> None:
        await self._redis.delete(self.owner_key(owner))

    async def stored_sessions(self) -> list[StoredSession]:
        members = sorted(_text(m) for m in await self._redis.smembers(self.live_key))
        found: list[StoredSession] = []
        for member in members:
            account_id, _, session_id = member.partition("|")
            h = await self._redis.hmget(
                self._sess(account_id, session_id), ["owner", "op", "tag", "charged", "audio_ms", "closed"]
            )
            if h[0] is None:
                await self._redis.srem(self.live_key, member)
                continue
            try:
                session = StoredSession(
                    account_id=account_id,
                    session_id=session_id,
                    owner=_text(h[0]),
                    operation=_text(h[1]),
                    tag=_text(h[2]) or None,
                    charged_mc=int(_text(h[3]) or 0),
                    audio_ms=int(_text(h[4]) or 0),
                    closed=_text(h[5]) == "1",
                )
            except (ValueError, UnicodeDecodeError):
                # Totals no script wrote: nothing can be settled from them; set aside, never block the others.
                unreadable = StoredSession(account_id, session_id, "", "", None, 0, 0, True)
                await self.quarantine(unreadable, "unreadable totals")
                log.error("billing session %s (account %s) has unreadable totals; quarantined under %s",
                          session_id, account_id, self.quarantine_key)
                continue
            found.append(session)
        return found

    async def owner_alive(self, owner: str) -> bool:
        return bool(await self._redis.exists(self.owner_key(owner)))
