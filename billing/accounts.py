"""Accounts and API keys in PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from billing.keys import hash_api_key, new_api_key

MILLI = 1000


@dataclass(slots=True, frozen=True)
class Account:
    id: uuid.UUID
    email: str
    plan: str


class EmailTaken(Exception):
    pass


class AccountStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, email: str, signup_credits: int, password_hash: str | None = None) -> tuple[Account, str]:
        """Create an account with its sign-up grant; returns the account and its (only shown once) API key."""
        account_id = uuid.uuid4()
        key = new_api_key()
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute("INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, $3)",
                                   account_id, email, password_hash)
            except asyncpg.UniqueViolationError as exc:
                raise EmailTaken(email) from exc
            await conn.execute(
                "INSERT INTO api_keys (key_hash, account_id, prefix) VALUES ($1, $2, $3)",
                hash_api_key(key),
                account_id,
                key[:8],
            )
            await conn.execute(
                "INSERT INTO ledger_entries (account_id, kind, amount_millicredits, idempotency_key) "
                "VALUES ($1, 'signup_grant', $2, $3)",
                account_id,
                signup_credits * MILLI,
                f"signup:{account_id}",
            )
        return Account(account_id, email, "free"), key

    async def by_api_key(self, key: str) -> Account | None:
        row = await self._pool.fetchrow(
            "SELECT a.id, a.email, a.plan FROM api_keys k JOIN accounts a ON a.id = k.account_id "
            "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            hash_api_key(key),
        )
        return Account(row["id"], row["email"], row["plan"]) if row else None

    async def balance_millicredits(self, account_id: uuid.UUID) -> int:
        value = await self._pool.fetchval(
            "SELECT COALESCE(SUM(amount_millicredits), 0) FROM ledger_entries WHERE account_id = $1",
            account_id,
        )
        return int(value)
