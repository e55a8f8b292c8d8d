"""The PostgreSQL ledger: append-only entries, each with a unique idempotency key; a balance is a sum.

Amounts are millicredits (credits add, usage and reversals subtract)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

LEDGER_KINDS = ("signup_grant", "purchase", "usage", "refund", "adjustment")

# What PostgreSQL (or the driver, encoding) refuses in the values themselves: retrying the same write cannot help.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, UnicodeError, ValueError,
)


@dataclass(slots=True, frozen=True)
class SessionTotals:
    """Everything one streaming session delivered and was charged so far (cumulative)."""

    session_id: str
    account_id: uuid.UUID
    operation: str
    tag: str | None
    charged_mc: int
    audio_ms: int


@dataclass(slots=True, frozen=True)
class UsageRow:
    operation: str
    tag: str | None
    audio_ms: int
    charged_mc: int


class Ledger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self,
        account_id: uuid.UUID,
        kind: str,
        amount_mc: int,
        idempotency_key: str,
        details: dict[str, Any] | None = None,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> bool:
        """Add an entry; False (and nothing written) when an entry with this key already exists."""
        if kind not in LEDGER_KINDS:
            raise ValueError(f"unknown ledger kind {kind!r}")
        sql = (
            "INSERT INTO ledger_entries (account_id, kind, amount_millicredits, idempotency_key, details) "
            "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        )
        args = (account_id, kind, amount_mc, idempotency_key, json.dumps(details or {}))
        row = await (conn.fetchrow(sql, *args) if conn is not None else self._pool.fetchrow(sql, *args))
        return row is not None

    async def balance(self, account_id: uuid.UUID) -> int:
        value = await self._pool.fetchval(
            "SELECT COALESCE(SUM(amount_millicredits), 0) FROM ledger_entries WHERE account_id = $1",
            account_id,
        )
        return int(value)

    async def snapshot(self, account_id: uuid.UUID, session_ids: list[str]) -> tuple[int, dict[str, int]]:
        """One consistent read: the balance and how much of each listed session's usage it includes."""
        row = await self._pool.fetchrow(
            "SELECT (SELECT COALESCE(SUM(amount_millicredits), 0) FROM ledger_entries "
            " WHERE account_id = $1) AS bal, "
            "(SELECT COALESCE(json_object_agg(id, charged_millicredits), '{}'::json) FROM usage_sessions "
            " WHERE id = ANY($2::text[])) AS settled",
            account_id,
            session_ids,
        )
        settled_raw: dict[str, int] = json.loads(row["settled"]) if isinstance(row["settled"], str) else {}
        settled = {sid: int(settled_raw.get(sid, 0)) for sid in session_ids}
        return int(row["bal"]), settled

    async def settle_session(self, totals: SessionTotals, *, closed: bool = False) -> int:
        """Write the part of ``totals`` the ledger does not hold yet as one usage entry. Idempotent and
        monotonic (concurrent or repeated calls serialize on the session row); returns the millicredits
        now settled.

        A tag PostgreSQL refuses (stored by an older version that did not validate it) is dropped rather than
        losing the charge: delivered audio is billed even when its label cannot be kept."""
        try:
            return await self._settle(totals, closed)
        except PERMANENT_ERRORS:
            if totals.tag is None:
                raise
        return await self._settle(replace(totals, tag=None), closed)

    async def _settle(self, totals: SessionTotals, closed: bool) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO usage_sessions (id, account_id, operation, tag) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (id) DO NOTHING",
                totals.session_id,
                totals.account_id,
                totals.operation,
                totals.tag,
            )
            row = await conn.fetchrow(
                "SELECT charged_millicredits, audio_ms, closed_at FROM usage_sessions "
                "WHERE id = $1 FOR UPDATE",
                totals.session_id,
            )
            done_mc, done_ms = int(row["charged_millicredits"]), int(row["audio_ms"])
            delta_mc = max(0, totals.charged_mc - done_mc)
            delta_ms = max(0, totals.audio_ms - done_ms)
            if delta_mc or delta_ms:
                await self.append(
                    totals.account_id,
                    "usage",
                    -delta_mc,
                    f"usage:{totals.session_id}:{done_mc}:{done_ms}",
                    {
                        "session_id": totals.session_id,
                        "operation": totals.operation,
                        "tag": totals.tag,
                        "audio_ms": delta_ms,
                    },
                    conn=conn,
                )
                await conn.execute(
                    "UPDATE usage_sessions SET charged_millicredits = $2, audio_ms = $3, updated_at = now() "
                    "WHERE id = $1",
                    totals.session_id,
                    done_mc + delta_mc,
                    done_ms + delta_ms,
                )
            if closed and row["closed_at"] is None:
                await conn.execute(
                    "UPDATE usage_sessions SET closed_at = now() WHERE id = $1", totals.session_id
                )
            return done_mc + delta_mc

    async def usage(self, account_id: uuid.UUID, start: datetime, end: datetime) -> list[UsageRow]:
        """Settled usage in [start, end) grouped by operation and tag."""
        rows = await self._pool.fetch(
            "SELECT details->>'operation' AS op, details->>'tag' AS tag, "
            "COALESCE(SUM((details->>'audio_ms')::bigint), 0) AS ms, "
            "COALESCE(-SUM(amount_millicredits), 0) AS mc "
            "FROM ledger_entries WHERE account_id = $1 AND kind = 'usage' "
            "AND created_at >= $2 AND created_at < $3 "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            account_id,
            start,
            end,
        )
        return [UsageRow(r["op"], r["tag"], int(r["ms"]), int(r["mc"])) for r in rows]
