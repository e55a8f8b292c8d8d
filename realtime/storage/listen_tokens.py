"""Listen-only tokens (rows in ``listen_tokens``): a URL safe to paste into OBS, since it can spend nothing."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.keys import hash_api_key

TOKEN_PREFIX = "lst_"


@dataclass(slots=True, frozen=True)
class ListenToken:
    id: uuid.UUID
    account_id: uuid.UUID
    channel: str
    label: str | None
    created_at: datetime


def _record(row: asyncpg.Record) -> ListenToken:
    return ListenToken(row["id"], row["account_id"], row["channel"], row["label"], row["created_at"])


class ListenTokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, account_id: uuid.UUID, channel: str, label: str | None, limit: int) -> tuple[
            ListenToken, str] | None:
        """A new token (the plain value is returned once), or None when the account already holds ``limit``."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))", str(account_id))
            if await conn.fetchval("SELECT count(*) FROM listen_tokens WHERE account_id = $1", account_id) >= limit:
                return None
            row = await conn.fetchrow(
                "INSERT INTO listen_tokens (id, account_id, token_hash, channel, label) VALUES ($1,$2,$3,$4,$5) "
                "RETURNING *", uuid.uuid4(), account_id, hash_api_key(token), channel, label)
        assert row is not None
        return _record(row), token

    async def list(self, account_id: uuid.UUID) -> list[ListenToken]:
        rows = await self._pool.fetch(
            "SELECT * FROM listen_tokens WHERE account_id = $1 ORDER BY created_at", account_id)
        return [_record(r) for r in rows]

    async def delete(self, account_id: uuid.UUID, token_id: uuid.UUID) -> bool:
        deleted = await self._pool.fetchval(
            "DELETE FROM listen_tokens WHERE account_id = $1 AND id = $2 RETURNING id", account_id, token_id)
        return deleted is not None

    async def resolve(self, token: str) -> ListenToken | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self._pool.fetchrow("SELECT * FROM listen_tokens WHERE token_hash = $1", hash_api_key(token))
        return _record(row) if row else None
