"""Passwords and API keys of accounts, for the web app (sign-up and log-in live beside ``billing.accounts``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.accounts import Account
from billing.keys import hash_api_key, new_api_key

MAX_ACTIVE_KEYS = 20


@dataclass(slots=True, frozen=True)
class Login:
    account: Account
    password_hash: str | None


@dataclass(slots=True, frozen=True)
class ApiKeyInfo:
    id: uuid.UUID
    prefix: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class KeyLimitReached(Exception):
    pass


def _info(row: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(row["id"], row["prefix"], row["label"], row["created_at"], row["revoked_at"])


class CredentialStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_email(self, email: str) -> Login | None:
        row = await self._pool.fetchrow(
            "SELECT id, email, plan, password_hash FROM accounts WHERE lower(email) = lower($1)", email
        )
        return Login(Account(row["id"], row["email"], row["plan"]), row["password_hash"]) if row else None

    async def password_hash(self, account_id: uuid.UUID) -> str | None:
        value = await self._pool.fetchval("SELECT password_hash FROM accounts WHERE id = $1", account_id)
        return str(value) if value is not None else None

    async def set_password_hash(self, account_id: uuid.UUID, password_hash: str) -> None:
        await self._pool.execute("UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id, password_hash)

    async def drop_keys(self, account_id: uuid.UUID) -> None:
        await self._pool.execute("DELETE FROM api_keys WHERE account_id = $1", account_id)

    async def list_keys(self, account_id: uuid.UUID) -> list[ApiKeyInfo]:
        rows = await self._pool.fetch(
            "SELECT id, prefix, label, created_at, revoked_at FROM api_keys WHERE account_id = $1 "
            "ORDER BY created_at, id", account_id,
        )
        return [_info(r) for r in rows]

    async def create_key(self, account_id: uuid.UUID, label: str | None) -> tuple[ApiKeyInfo, str]:
        key = new_api_key()
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises concurrent creations of one account so the limit holds.
            await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)
            active = await conn.fetchval(
                "SELECT count(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL", account_id
            )
            if active >= MAX_ACTIVE_KEYS:
                raise KeyLimitReached(MAX_ACTIVE_KEYS)
            row = await conn.fetchrow(
                "INSERT INTO api_keys (key_hash, account_id, prefix, label) VALUES ($1, $2, $3, $4) "
                "RETURNING id, prefix, label, created_at, revoked_at",
                hash_api_key(key), account_id, key[:8], label,
            )
        return _info(row), key

    async def revoke_key(self, account_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        status = await self._pool.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
            account_id, key_id,
        )
        return bool(status.endswith(" 1"))
