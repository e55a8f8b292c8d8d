"""Web app sessions in PostgreSQL: the cookie carries a random token; the table keeps its SHA-256 and a CSRF token."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from billing.accounts import Account

SESSION_TTL = timedelta(days=30)
# Logging in again and again must not grow the table without bound: older sessions of the account are dropped.
MAX_SESSIONS_PER_ACCOUNT = 20


@dataclass(slots=True, frozen=True)
class WebSession:
    account: Account
    token_hash: bytes
    csrf_token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class WebSessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, account_id: uuid.UUID) -> tuple[str, str]:
        """A new session; returns (cookie token, CSRF token)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO web_sessions (token_hash, account_id, csrf_token, expires_at) "
                "VALUES ($1, $2, $3, now() + $4::interval)",
                _digest(token), account_id, csrf, SESSION_TTL,
            )
            await conn.execute(
                "DELETE FROM web_sessions WHERE account_id = $1 AND (expires_at <= now() OR token_hash NOT IN "
                "(SELECT token_hash FROM web_sessions WHERE account_id = $1 ORDER BY created_at DESC LIMIT $2))",
                account_id, MAX_SESSIONS_PER_ACCOUNT,
            )
        return token, csrf

    async def resolve(self, token: str) -> WebSession | None:
        row = await self._pool.fetchrow(
            "SELECT s.token_hash, s.csrf_token, a.id, a.email, a.plan FROM web_sessions s "
            "JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > now()",
            _digest(token),
        )
        if row is None:
            return None
        return WebSession(Account(row["id"], row["email"], row["plan"]), row["token_hash"], row["csrf_token"])

    async def delete(self, token_hash: bytes) -> None:
        await self._pool.execute("DELETE FROM web_sessions WHERE token_hash = $1", token_hash)

    async def delete_all(self, account_id: uuid.UUID, *, keep: bytes | None = None) -> None:
        await self._pool.execute(
            "DELETE FROM web_sessions WHERE account_id = $1 AND token_hash IS DISTINCT FROM $2", account_id, keep
        )
