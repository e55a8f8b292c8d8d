"""Client-side pieces of the ops tests: accounts, a speaker cut mid-stream, the ledger as PostgreSQL holds it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection

from tests.realtime.ws_client import Received, collect, next_event, send
from tests.servers import RunningServer

RATE_HZ = 24_000
LONG_TEXT = "A sentence for the audience that keeps the stream busy for a while. " * 12  # ~50 s of tone


def new_account(server: RunningServer) -> tuple[str, uuid.UUID]:
    resp = httpx.post(f"{server.base_url}/v1/accounts", json={"email": f"o{uuid.uuid4().hex[:10]}@example.com"},
                      timeout=10)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["api_key"], uuid.UUID(body["account_id"])


def audio_ms(audio: bytes | bytearray) -> float:
    return len(audio) / 2 / RATE_HZ * 1000


async def stats(server: RunningServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{server.base_url}/v1/stats", timeout=5)
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


async def start_long_stream(ws: ClientConnection, text: str = LONG_TEXT, **start: Any) -> dict[str, Any]:
    await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE_HZ, **start)
    started = await next_event(ws)
    assert started["type"] == "started", started
    await send(ws, type="text", text=text)
    await send(ws, type="end")
    return started


async def read_audio(ws: ClientConnection, got: Received, at_least_ms: float, timeout_s: float = 30) -> None:
    """Read into ``got`` until it holds at least ``at_least_ms`` of audio."""
    deadline = time.monotonic() + timeout_s
    while audio_ms(got.audio) < at_least_ms:
        msg = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            got.audio += msg
        else:
            got.events.append(json.loads(msg))


async def read_rest(ws: ClientConnection, got: Received, timeout_s: float = 60) -> Received:
    rest = await collect(ws, timeout_s, any_close=True)
    got.audio += rest.audio
    got.events += rest.events
    got.close_code = rest.close_code
    return got


@dataclass(frozen=True)
class LedgerView:
    session_audio_ms: int  # usage_sessions.audio_ms, summed
    entry_audio_ms: int  # the usage rows of ledger_entries, summed
    open_sessions: int


async def ledger(database_url: str, account_id: uuid.UUID) -> LedgerView:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT COALESCE(SUM(audio_ms), 0) AS ms, COUNT(*) FILTER (WHERE closed_at IS NULL) AS open "
            "FROM usage_sessions WHERE account_id = $1", account_id)
        entries = await conn.fetchval(
            "SELECT COALESCE(SUM((details->>'audio_ms')::bigint), 0) FROM ledger_entries "
            "WHERE account_id = $1 AND kind = 'usage'", account_id)
    finally:
        await conn.close()
    assert row is not None
    return LedgerView(int(row["ms"]), int(entries), int(row["open"]))


async def settled_ledger(database_url: str, account_id: uuid.UUID, timeout_s: float = 60) -> LedgerView:
    """The ledger once every session of the account is closed (settled by its instance, or reaped by another)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = await ledger(database_url, account_id)
        if view.open_sessions == 0 and view.session_audio_ms > 0:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"sessions still open after {timeout_s} s: {view}")
        await asyncio.sleep(0.2)
