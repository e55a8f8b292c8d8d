"""Reads and small edits the web app needs: a voice's reference audio and name, and the payment history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

MAX_PAYMENT_ROWS = 100


@dataclass(slots=True, frozen=True)
class VoicePcm:
    pcm_s16le: bytes
    sample_rate_hz: int


@dataclass(slots=True, frozen=True)
class PaymentRow:
    order_id: uuid.UUID
    plan: str
    price_centavos: int
    credits: int
    created_at: datetime
    payment_id: str | None
    status: str | None
    granted: bool
    reversed: bool
    refunded_centavos: int


async def voice_pcm(pool: asyncpg.Pool, account_id: uuid.UUID, voice_id: uuid.UUID) -> VoicePcm | None:
    row = await pool.fetchrow(
        "SELECT pcm_s16le, sample_rate_hz FROM voices WHERE account_id = $1 AND id = $2", account_id, voice_id
    )
    return VoicePcm(bytes(row["pcm_s16le"]), row["sample_rate_hz"]) if row else None


async def rename_voice(pool: asyncpg.Pool, account_id: uuid.UUID, voice_id: uuid.UUID, name: str) -> bool:
    status = await pool.execute("UPDATE voices SET name = $3 WHERE account_id = $1 AND id = $2",
                                account_id, voice_id, name)
    return bool(status.endswith(" 1"))


async def payment_history(pool: asyncpg.Pool, account_id: uuid.UUID) -> list[PaymentRow]:
    """Checkouts, newest first, each with its Mercado Pago payment when one was notified."""
    rows = await pool.fetch(
        "SELECT o.id, o.plan, o.price_centavos, o.credits, o.created_at, p.payment_id, p.status, "
        "COALESCE(p.granted, false) AS granted, COALESCE(p.reversed, false) AS reversed, "
        "COALESCE(p.refunded_centavos, 0) AS refunded FROM payment_orders o "
        "LEFT JOIN payments p ON p.order_id = o.id WHERE o.account_id = $1 "
        "ORDER BY o.created_at DESC, p.updated_at DESC NULLS LAST LIMIT $2",
        account_id, MAX_PAYMENT_ROWS,
    )
    return [PaymentRow(r["id"], r["plan"], r["price_centavos"], r["credits"], r["created_at"], r["payment_id"],
                       r["status"], r["granted"], r["reversed"], r["refunded"]) for r in rows]


@dataclass(slots=True, frozen=True)
class DailyUsage:
    day: date
    operation: str
    audio_ms: int
    charged_mc: int


async def daily_usage(pool: asyncpg.Pool, account_id: uuid.UUID, start: datetime, end: datetime,
                      utc_offset: timedelta) -> list[DailyUsage]:
    """Settled usage per local day (``utc_offset`` from UTC) and operation, in [start, end)."""
    rows = await pool.fetch(
        "SELECT ((created_at AT TIME ZONE 'UTC') + $4::interval)::date AS day, details->>'operation' AS op, "
        "COALESCE(SUM((details->>'audio_ms')::bigint), 0) AS ms, COALESCE(-SUM(amount_millicredits), 0) AS mc "
        "FROM ledger_entries WHERE account_id = $1 AND kind = 'usage' AND created_at >= $2 AND created_at < $3 "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        account_id, start, end, utc_offset,
    )
    return [DailyUsage(r["day"], r["op"], int(r["ms"]), int(r["mc"])) for r in rows]
