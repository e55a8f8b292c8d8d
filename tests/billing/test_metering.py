"""SessionMeter against the real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis

from billing.errors import InsufficientCredits
from billing.ledger import SessionTotals
from billing.metering import SessionMeter
from billing.settlement import Settler
from tests.billing.conftest import CREDIT, Billing, delete_prefix, make_billing

SIX_SECONDS = 6_000  # what one credit buys of TTS (10 credits per minute)


async def _stream(meter: SessionMeter, chunk_ms: int, *, ask_first: bool = True) -> int:
    """Deliver chunks until the meter says credits ran out; returns the audio delivered."""
    delivered = 0
    for _ in range(10_000):  # a broken meter fails the test instead of looping forever
        n = await meter.authorize(chunk_ms) if ask_first else chunk_ms
        if n == 0:
            return delivered
        update = await meter.charge_delivered(n)
        delivered += n
        await asyncio.sleep(0)
        if update.exhausted:
            return delivered
    raise AssertionError("credits never ran out")


async def test_open_charge_close_settles_the_exact_cost(billing: Billing) -> None:
    account = await billing.new_account(100)
    meter = await billing.metering.open(account, "tts", tag="live")
    assert await meter.authorize(1_000) == 1_000
    update = await meter.charge_delivered(1_000)
    assert (update.audio_ms, update.used_mc, update.exhausted) == (1_000, 167, False)
    assert update.left_mc == 100 * CREDIT - 167
    assert update.event() == {"type": "usage", "audio_ms": 1000, "credits_used": 0.167, "credits_left": 99.833}
    await meter.charge_delivered(59_000)
    final = await meter.close()
    assert final.used_mc == 10 * CREDIT
    assert await billing.balance_mc(account) == 90 * CREDIT
    assert await billing.metering.available_mc(account) == 90 * CREDIT  # reservation given back
    assert await meter.close() == final  # idempotent
    assert billing.metering.live_meters() == []


async def test_a_session_cannot_start_at_zero_balance(billing: Billing) -> None:
    account = await billing.new_account(0)
    with pytest.raises(InsufficientCredits):
        await billing.metering.open(account, "tts")
    assert await billing.balance_mc(account) == 0


async def test_exhaustion_stops_at_the_last_paid_millisecond(billing: Billing) -> None:
    account = await billing.new_account(1)
    meter = await billing.metering.open(account, "tts")
    delivered = await _stream(meter, 250)
    assert delivered == SIX_SECONDS
    assert await meter.authorize(250) == 0
    await meter.close()
    assert await billing.balance_mc(account) == 0
    with pytest.raises(InsufficientCredits):
        await billing.metering.open(account, "tts")


async def test_two_sessions_racing_one_balance_never_overdraw(billing: Billing) -> None:
    account = await billing.new_account(1)
    meters = [await billing.metering.open(account, "tts") for _ in range(2)]
    delivered = await asyncio.gather(*(_stream(m, 130) for m in meters))
    for m in meters:
        await m.close()
    charged = sum(m.charged_mc for m in meters)
    assert charged <= CREDIT
    assert sum(delivered) >= SIX_SECONDS - 2 * 6  # what rounding paid for stays unspent: under 1 mc a session
    assert all(d > 0 for d in delivered)  # both got a share
    assert await billing.balance_mc(account) == CREDIT - charged >= 0
    assert await billing.metering.available_mc(account) == CREDIT - charged


async def test_blind_charging_overdraws_at_most_one_chunk_per_session(billing: Billing) -> None:
    account = await billing.new_account(1)
    meters = [await billing.metering.open(account, "tts") for _ in range(3)]
    chunk_ms = 400
    await asyncio.gather(*(_stream(m, chunk_ms, ask_first=False) for m in meters))
    for m in meters:
        await m.close()
    balance = await billing.balance_mc(account)
    chunk_cost = -(-chunk_ms * 10_000 // 60_000)
    assert -3 * chunk_cost <= balance <= 0


async def test_conversion_and_tts_rvc_rates(billing: Billing) -> None:
    account = await billing.new_account(100)
    conv = await billing.metering.open(account, "conversion")
    rvc = await billing.metering.open(account, "tts_rvc")
    await conv.charge_delivered(60_000)
    await rvc.charge_delivered(60_000)
    await conv.close()
    await rvc.close()
    assert await billing.balance_mc(account) == (100 - 5 - 15) * CREDIT


async def test_redis_flushed_mid_session_loses_nothing(billing: Billing, redis_client: aioredis.Redis,
                                                       prefix: str) -> None:
    account = await billing.new_account(10)
    meter = await billing.metering.open(account, "tts")
    other = await billing.metering.open(account, "tts")
    await meter.charge_delivered(3_000)
    await other.charge_delivered(1_000)
    assert await delete_prefix(redis_client, prefix) > 0  # Redis lost everything (flush / restart)
    update = await meter.charge_delivered(3_000)
    assert update.used_mc == 1_000
    # Rebuilt from PostgreSQL + the sessions that came back; ``other`` has not re-registered yet.
    assert await billing.metering.available_mc(account) == 10 * CREDIT - 1_000
    await other.charge_delivered(1_000)  # re-registers too
    assert await billing.metering.available_mc(account) == 10 * CREDIT - 1_000 - 334
    assert await meter.authorize(1_000) == 1_000
    await meter.close()
    await other.close()
    assert await billing.balance_mc(account) == 10 * CREDIT - 1_000 - 334
    assert await billing.metering.available_mc(account) == 10 * CREDIT - 1_334


async def test_orphans_of_a_dead_process_are_settled_once(pool: asyncpg.Pool, redis_client: aioredis.Redis,
                                                          prefix: str) -> None:
    dead = make_billing(pool, redis_client, prefix)
    alive = make_billing(pool, redis_client, prefix)
    account = await dead.new_account(10)
    await dead.store.heartbeat(dead.metering.owner, 60_000)
    meter = await dead.metering.open(account, "tts", tag="orphan")
    await meter.charge_delivered(6_000)
    assert await alive.metering.reap_orphans() == 0  # its process is still alive
    await dead.store.drop_heartbeat(dead.metering.owner)  # the process died without closing
    assert await alive.metering.reap_orphans() == 1
    assert await alive.balance_mc(account) == 9 * CREDIT
    assert await alive.metering.available_mc(account) == 9 * CREDIT  # its reservation came back
    assert await alive.metering.reap_orphans() == 0
    # The "dead" meter was only stalled: it carries on and its totals still settle exactly once.
    await meter.charge_delivered(6_000)
    await meter.close()
    assert await alive.balance_mc(account) == 8 * CREDIT


async def test_settler_start_reaps_and_steps_settle_live_sessions(pool: asyncpg.Pool,
                                                                  redis_client: aioredis.Redis,
                                                                  prefix: str) -> None:
    crashed = make_billing(pool, redis_client, prefix)
    account = await crashed.new_account(10)
    lost = await crashed.metering.open(account, "tts")
    await lost.charge_delivered(12_000)
    await crashed.store.drop_heartbeat(crashed.metering.owner)  # its heartbeat expired: the process is dead
    fresh = make_billing(pool, redis_client, prefix)
    settler = Settler(fresh.metering, interval_s=60, owner_ttl_s=5)
    assert await settler.start() == 1
    try:
        assert await fresh.balance_mc(account) == 8 * CREDIT
        live = await fresh.metering.open(account, "tts")
        await live.charge_delivered(6_000)
        await settler.step()
        assert await fresh.balance_mc(account) == 7 * CREDIT  # settled while still running
        await settler.step()
        await live.charge_delivered(6_000)
        await live.close()
        assert await fresh.balance_mc(account) == 6 * CREDIT
        n = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'usage'",
                                account)
        assert n == 3  # orphan, one periodic settlement, the rest at close
    finally:
        await settler.stop()


async def test_settlement_is_idempotent_under_concurrency(billing: Billing) -> None:
    account = await billing.new_account(10)
    totals = SessionTotals(uuid.uuid4().hex, account, "tts", "x", 500, 3_000)
    results = await asyncio.gather(*(billing.ledger.settle_session(totals) for _ in range(8)))
    assert results == [500] * 8
    assert await billing.balance_mc(account) == 10 * CREDIT - 500
    smaller = SessionTotals(totals.session_id, account, "tts", "x", 400, 2_000)
    assert await billing.ledger.settle_session(smaller) == 500  # never goes back
    assert await billing.balance_mc(account) == 10 * CREDIT - 500


async def test_a_purchase_reaches_running_sessions(billing: Billing) -> None:
    account = await billing.new_account(1)
    meter = await billing.metering.open(account, "tts")
    assert await _stream(meter, 500) == SIX_SECONDS
    await billing.ledger.append(account, "purchase", 2 * CREDIT, f"test-purchase:{uuid.uuid4()}")
    await billing.store.invalidate(str(account))
    assert await meter.authorize(500) == 500
    assert await _stream(meter, 500) == 2 * SIX_SECONDS
    await meter.close()
    assert await billing.balance_mc(account) == 0


async def test_usage_report_groups_by_operation_and_tag(billing: Billing) -> None:
    from datetime import UTC, datetime, timedelta

    account = await billing.new_account(100)
    for op, tag, ms in [("tts", "a", 6_000), ("tts", "a", 6_000), ("tts", None, 3_000), ("conversion", "b", 12_000)]:
        m = await billing.metering.open(account, op, tag=tag)
        await m.charge_delivered(ms)
        await m.close()
    now = datetime.now(UTC)
    rows = await billing.ledger.usage(account, now - timedelta(minutes=1), now + timedelta(minutes=1))
    got = {(r.operation, r.tag): (r.audio_ms, r.charged_mc) for r in rows}
    assert got == {("conversion", "b"): (12_000, 1_000), ("tts", "a"): (12_000, 2_000), ("tts", None): (3_000, 500)}
    assert await billing.ledger.usage(account, now - timedelta(hours=2), now - timedelta(hours=1)) == []
