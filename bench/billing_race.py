"""N concurrent simulated streaming sessions over M accounts, drawing credits through the real metering path
(Redis Lua reservations + PostgreSQL ledger, several simulated server processes with periodic settlement).

Prints one JSON line: sessions, accounts, mismatches (accounts where ledger, Redis cache and the sum of the
sessions' own totals disagree, plus sessions whose settled total differs from what they charged), max_overdraw
(millicredits below zero on any account), ops_per_s (authorize + charge calls per second).

    .venv/bin/python bench/billing_race.py --sessions 1000 --accounts 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from billing.accounts import AccountStore  # noqa: E402
from billing.config import BillingConfig  # noqa: E402
from billing.errors import InsufficientCredits  # noqa: E402
from billing.ledger import Ledger  # noqa: E402
from billing.metering import Metering, SessionMeter  # noqa: E402
from billing.pricing import MILLI_PER_CREDIT, cost_millicredits  # noqa: E402
from billing.reservations import ReservationStore  # noqa: E402
from billing.settlement import Settler  # noqa: E402
from realtime.storage.db import create_pool, migrate  # noqa: E402

PG_ADMIN = os.environ.get("DUBLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def detail(line: str) -> None:
    print(line, file=sys.stderr)


class Counter:
    ops = 0
    refused = 0


async def session(meter: SessionMeter, rng: random.Random, target_ms: int, blind: bool, counter: Counter) -> None:
    delivered = 0
    try:
        while delivered < target_ms:
            chunk = rng.randint(20, 300)
            n = chunk if blind else await meter.authorize(chunk)
            counter.ops += 0 if blind else 1
            if n == 0:
                break
            update = await meter.charge_delivered(n)
            counter.ops += 1
            delivered += n
            if update.exhausted:
                break
            await asyncio.sleep(rng.random() * 0.002)
    finally:
        await meter.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    db_url = f"{PG_ADMIN}/duble_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"dublebench:{uuid.uuid4().hex[:10]}:"
    await migrate(db_url)
    pool = await create_pool(db_url, min_size=2, max_size=args.pg_connections)
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        REDIS_URL, max_connections=args.redis_connections, timeout=30))
    rng = random.Random(args.seed)
    cfg = BillingConfig(redis_prefix=prefix, quantum_ms=args.quantum_ms, settle_interval_s=args.settle_interval_s)
    ledger = Ledger(pool)
    store = ReservationStore(redis, prefix, int(cfg.owner_ttl_s * 1000))
    processes = [Metering(cfg, store, ledger, owner=f"proc{i}") for i in range(args.processes)]
    settlers = [Settler(m, cfg.settle_interval_s, cfg.owner_ttl_s) for m in processes]
    try:
        for s in settlers:
            await s.start()
        accounts_store = AccountStore(pool)
        accounts = [(await accounts_store.create(f"bench{i}-{uuid.uuid4().hex[:6]}@example.com",
                                                 args.credits))[0].id for i in range(args.accounts)]
        counter = Counter()
        meters: list[SessionMeter] = []

        async def one(i: int) -> None:
            account = accounts[i % len(accounts)]
            proc = processes[i % len(processes)]
            await asyncio.sleep(rng.random() * 0.2)
            try:
                meter = await proc.open(account, "tts", tag=f"t{i % 3}")
            except InsufficientCredits:
                counter.refused += 1
                return
            meters.append(meter)
            await session(meter, random.Random(args.seed + i), args.target_ms, args.blind, counter)

        async def flusher() -> None:
            # Like FLUSHDB or a restart without persistence, but only for this run's keys: one DEL.
            await asyncio.sleep(args.flush_after_s)
            keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=10_000)]
            await redis.delete(*keys)

        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for i in range(args.sessions):
                tg.create_task(one(i))
            if args.flush_after_s > 0:
                tg.create_task(flusher())
        wall_s = time.perf_counter() - t0

        mismatches = 0
        max_overdraw = 0
        charged_by_account: dict[uuid.UUID, int] = {a: 0 for a in accounts}
        for m in meters:
            charged_by_account[m.account_id] += m.charged_mc
        settled = {r["id"]: int(r["charged_millicredits"])
                   for r in await pool.fetch("SELECT id, charged_millicredits FROM usage_sessions")}
        for m in meters:
            if settled.get(m.session_id, 0) != m.charged_mc:
                mismatches += 1
                detail(f"session {m.session_id}: settled {settled.get(m.session_id)} charged {m.charged_mc}")
        for account in accounts:
            expected = args.credits * MILLI_PER_CREDIT - charged_by_account[account]
            in_ledger = await ledger.balance(account)
            in_redis = await processes[0].available_mc(account)
            if not expected == in_ledger == in_redis:
                mismatches += 1
                detail(f"account {account}: expected {expected} ledger {in_ledger} redis {in_redis}")
                if os.environ.get("BENCH_DEBUG"):
                    members = await redis.smembers(f"{prefix}bill:{{{account}}}:sessions")
                    for sid in members:
                        h = await redis.hgetall(f"{prefix}bill:{{{account}}}:s:{sid.decode()}")
                        detail(f"   left in redis: {sid} {h}")
            max_overdraw = max(max_overdraw, -in_ledger)
        return {
            "sessions": args.sessions, "accounts": args.accounts, "processes": args.processes,
            "credits_per_account": args.credits, "blind": args.blind, "redis_flushed": args.flush_after_s > 0,
            "refused_at_start": counter.refused, "mismatches": mismatches, "max_overdraw": max_overdraw,
            "quantum_mc": cost_millicredits(args.quantum_ms, cfg.rates.millicredits_per_min("tts")),
            "audio_s": round(sum(m.delivered_ms for m in meters) / 1000, 3),
            "ops": counter.ops, "wall_s": round(wall_s, 3), "ops_per_s": round(counter.ops / wall_s, 1),
        }
    finally:
        for s in settlers:
            await s.stop()
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()
        await pool.close()
        conn = await asyncpg.connect(f"{PG_ADMIN}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--processes", type=int, default=4, help="simulated server processes sharing Redis/PostgreSQL")
    p.add_argument("--credits", type=int, default=2, help="credits per account (1 credit = 6 s of TTS)")
    p.add_argument("--target-ms", type=int, default=8000, help="audio each session tries to stream")
    p.add_argument("--quantum-ms", type=int, default=1000)
    p.add_argument("--settle-interval-s", type=float, default=0.5)
    p.add_argument("--blind", action="store_true", help="charge whole chunks without authorize (overdraw test)")
    p.add_argument("--flush-after-s", type=float, default=0.0, help="delete all Redis keys mid-run")
    p.add_argument("--pg-connections", type=int, default=20)
    p.add_argument("--redis-connections", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    print(json.dumps(asyncio.run(run(p.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
