"""PostgreSQL connection pool and SQL migrations (files in ``migrations/``, applied in name order, once)."""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

CONNECT_TIMEOUT_S = 10.0
_MIGRATION_LOCK_KEY = 0x6475626C65  # "duble"


def _split_database(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))
    return name, admin


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet."""
    name, admin_url = _split_database(url)
    conn = await asyncpg.connect(admin_url, timeout=CONNECT_TIMEOUT_S)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("realtime.storage").joinpath("migrations")
    files = sorted((f.name, f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".sql"))
    return files


async def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    await ensure_database(url)
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in _migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
    return applied_now


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S)
    assert pool is not None
    return pool
