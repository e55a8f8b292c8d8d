"""Billing fixtures: a private PostgreSQL database and Redis key prefix, and a billing server with the Mercado
Pago emulator (fake TTS engine, 1 credit at sign-up so that exhaustion is quick)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import redis.asyncio as aioredis

from billing.accounts import AccountStore
from billing.config import BillingConfig
from billing.ledger import Ledger
from billing.metering import Metering
from billing.pricing import MILLI_PER_CREDIT
from billing.redis_client import connect_redis
from billing.reservations import ReservationStore
from realtime.storage.db import create_pool, migrate
from tests.mp_emulator import MercadoPagoEmulator, run_emulator
from tests.servers import PG_ADMIN_URL, REDIS_URL, RunningServer, run_server, test_database_url

WEBHOOK_SECRET = "test-webhook-secret"


async def delete_prefix(redis: aioredis.Redis, prefix: str) -> int:
    """Delete this test's keys only (never FLUSHDB: other tests share this Redis)."""
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += await redis.delete(*batch)
            batch.clear()
    if batch:
        deleted += await redis.delete(*batch)
    return deleted


@pytest.fixture(scope="session")
async def billing_db_url() -> AsyncIterator[str]:
    url = test_database_url(f"billing_{uuid.uuid4().hex[:10]}")
    await migrate(url)
    yield url
    conn = await asyncpg.connect(f"{PG_ADMIN_URL}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pool(billing_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(billing_db_url, max_size=20)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = connect_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    p = f"dubletest:billing:{uuid.uuid4().hex[:12]}:"
    yield p
    await delete_prefix(redis_client, p)


@dataclass
class Billing:
    """One simulated server process' billing parts (same database and prefix, own owner id)."""

    metering: Metering
    ledger: Ledger
    store: ReservationStore
    accounts: AccountStore

    async def new_account(self, credits: int) -> uuid.UUID:
        account, _ = await self.accounts.create(f"b{uuid.uuid4().hex[:12]}@example.com", credits)
        return account.id

    async def balance_mc(self, account_id: uuid.UUID) -> int:
        return await self.ledger.balance(account_id)


def make_billing(pool: asyncpg.Pool, redis: aioredis.Redis, prefix: str, **config: object) -> Billing:
    cfg = BillingConfig(redis_prefix=prefix, **config)  # type: ignore[arg-type]
    ledger = Ledger(pool)
    store = ReservationStore(redis, prefix, int(cfg.owner_ttl_s * 1000))
    return Billing(Metering(cfg, store, ledger, owner=uuid.uuid4().hex), ledger, store, AccountStore(pool))


@pytest.fixture
def billing(pool: asyncpg.Pool, redis_client: aioredis.Redis, prefix: str) -> Billing:
    return make_billing(pool, redis_client, prefix)


CREDIT = MILLI_PER_CREDIT


@pytest.fixture(scope="session")
def mp_emulator() -> Iterator[MercadoPagoEmulator]:
    with run_emulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def billing_server(tmp_path_factory: pytest.TempPathFactory, mp_emulator: MercadoPagoEmulator
                   ) -> Iterator[RunningServer]:
    env = {
        "DUBLE_TTS_ENGINE": "fake",
        "DUBLE_SIGNUP_CREDITS": "1",
        "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5",
        "DUBLE_TTS_CACHE_ENABLED": "false",
        "DUBLE_MERCADOPAGO_BASE_URL": mp_emulator.base_url,
        "DUBLE_MERCADOPAGO_ACCESS_TOKEN": mp_emulator.state.access_token,
        "DUBLE_MERCADOPAGO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DUBLE_MERCADOPAGO_TIMEOUT_S": "2",
    }
    with run_server(tmp_path_factory.mktemp("billing-server"), env) as srv:
        yield srv
