"""Sessions left in Redis that PostgreSQL refuses to settle (as an older version stored them: a NUL in the tag, an
account that no longer exists) never block the start-up or the other sessions; delivered usage still reaches the
ledger, and what can never be settled is quarantined once."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from billing.accounts import AccountStore
from billing.redis_client import connect_redis
from realtime.storage.db import create_pool, migrate
from tests import servers
from tests.billing.conftest import delete_prefix
from tests.servers import REDIS_URL, drop_database, run_server

SIGNUP_MC = 100_000


async def _plant(redis: aioredis.Redis, prefix: str, account_id: str, session_id: str, *, tag: str,
                 charged_mc: int, audio_ms: int) -> None:
    """A session exactly as the reservation scripts store it, owned by a process that is gone."""
    await redis.hset(f"{prefix}bill:{{{account_id}}}:s:{session_id}", mapping={
        "owner": uuid.uuid4().hex, "op": "tts", "tag": tag, "charged": charged_mc, "audio_ms": audio_ms,
        "reserved": 500, "closed": 0})
    await redis.sadd(f"{prefix}bill:{{{account_id}}}:sessions", session_id)
    await redis.sadd(f"{prefix}bill:live", f"{account_id}|{session_id}")


async def _wait_row(pool: asyncpg.Pool, session_id: str, timeout_s: float = 60) -> asyncpg.Record:
    deadline = time.monotonic() + timeout_s
    while (row := await pool.fetchrow("SELECT * FROM usage_sessions WHERE id = $1 AND closed_at IS NOT NULL",
                                      session_id)) is None:
        assert time.monotonic() < deadline, f"session {session_id} was not settled"
        await asyncio.sleep(0.1)
    return row


async def test_poisoned_sessions_do_not_block_start_up_or_others(tmp_path: Path) -> None:
    name = uuid.uuid4().hex[:12]
    database_url = servers.test_database_url(f"poison_{name}")
    prefix = f"dubletest:poison:{name}:"
    await migrate(database_url)
    pool = await create_pool(database_url)
    redis = connect_redis(REDIS_URL)
    try:
        account, key = await AccountStore(pool).create(f"p{name}@example.com", SIGNUP_MC // 1000)
        acct = str(account.id)
        poisoned, plain, orphaned, later = (f"{label}-{name}" for label in ("a-nul", "b-plain", "c-gone", "d-later"))
        await _plant(redis, prefix, acct, poisoned, tag="camp\u0000anha", charged_mc=4267, audio_ms=25_600)
        await _plant(redis, prefix, acct, plain, tag="ok", charged_mc=1000, audio_ms=6000)
        missing_account = str(uuid.uuid4())  # deleted, or never existed: the ledger refuses it for good
        await _plant(redis, prefix, missing_account, orphaned, tag="x", charged_mc=700, audio_ms=4200)
        garbled_account, garbled = str(uuid.uuid4()), f"e-garbled-{name}"
        await _plant(redis, prefix, garbled_account, garbled, tag="y", charged_mc=1, audio_ms=6)
        await redis.hset(f"{prefix}bill:{{{garbled_account}}}:s:{garbled}", "charged", "12abc")

        env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_REDIS_PREFIX": prefix, "DUBLE_TTS_CACHE_ENABLED": "false",
               "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.3"}
        with run_server(tmp_path, env, keep_database=database_url) as server:
            row = await _wait_row(pool, poisoned)
            assert (row["tag"], row["audio_ms"], row["charged_millicredits"]) == (None, 25_600, 4267)
            row = await _wait_row(pool, plain)
            assert (row["tag"], row["audio_ms"], row["charged_millicredits"]) == ("ok", 6000, 1000)
            usage = await pool.fetch("SELECT amount_millicredits, details->>'tag' AS tag FROM ledger_entries "
                                     "WHERE account_id = $1 AND kind = 'usage' ORDER BY amount_millicredits",
                                     account.id)
            assert [(r["amount_millicredits"], r["tag"]) for r in usage] == [(-4267, None), (-1000, "ok")]

            quarantined = await redis.hgetall(f"{prefix}bill:quarantine")
            assert set(quarantined) == {f"{missing_account}|{orphaned}".encode(),
                                        f"{garbled_account}|{garbled}".encode()}
            assert b"ForeignKeyViolationError" in quarantined[f"{missing_account}|{orphaned}".encode()]
            assert b"unreadable totals" in quarantined[f"{garbled_account}|{garbled}".encode()]
            assert await redis.smembers(f"{prefix}bill:live") == set()

            # A later orphan is settled by a periodic round: the quarantined one is not retried (logged once).
            await _plant(redis, prefix, acct, later, tag="later", charged_mc=10, audio_ms=60)
            await _wait_row(pool, later)
            log = server.log()
            assert log.count(orphaned) == 1 and log.count(garbled) == 1, log[-3000:]
            assert "Traceback" not in log, log[-3000:]

            async with httpx.AsyncClient(base_url=server.base_url) as client:
                headers = {"Authorization": f"Bearer {key}"}
                credits = (await client.get("/v1/account", headers=headers)).json()["credits"]
                assert credits == (SIGNUP_MC - 4267 - 1000 - 10) / 1000
                stats = (await client.get("/v1/stats")).json()
                assert stats["billing"] == {"quarantined_sessions": 2}
                text = (await client.get("/metrics")).text
                assert "duble_billing_quarantined_sessions 2" in text
    finally:
        await pool.close()
        await delete_prefix(redis, prefix)
        await redis.aclose()
        await asyncio.to_thread(drop_database, database_url)
