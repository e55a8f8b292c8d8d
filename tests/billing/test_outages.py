"""Outages seen from outside: a Redis or PostgreSQL of the server's own is stopped mid-stream; running streams end
with ``billing_unavailable`` and close 1013, new connections are told the same, REST answers 503 with a code, the
server recovers when the store is back and the ledger holds exactly what was delivered. And a SIGKILLed server's
sessions are settled by a peer within the documented time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from billing.redis_client import connect_redis
from tests import servers
from tests.billing.conftest import delete_prefix
from tests.billing.own_stores import own_postgres, own_redis
from tests.helpers import create_account
from tests.realtime.ws_client import Received, collect, connect, next_event, send
from tests.servers import REDIS_URL, RunningServer, drop_database, run_server

RATE = 24_000
TTS_MC_PER_MIN = 10_000
LONG_TEXT = "This sentence keeps the stream busy for a good while. " * 12  # ~39 s of audio
# Heartbeat TTL (15 s) + one settlement round (5 s) is the documented bound; the old code took ~50 s.
CRASH_SETTLE_BOUND_S = 35.0


def _ms(audio: bytes | bytearray) -> int:
    return len(audio) // 2 * 1000 // RATE


async def _read_audio(ws: ClientConnection, got: Received, at_least_ms: int) -> str:
    """Read until ``at_least_ms`` of audio arrived; returns the session id from ``started``."""
    session_id = ""
    while _ms(got.audio) < at_least_ms:
        msg = await asyncio.wait_for(ws.recv(), timeout=30)
        if isinstance(msg, bytes):
            got.audio += msg
        elif (event := json.loads(msg))["type"] == "started":
            session_id = event["session_id"]
        else:
            got.events.append(event)
    return session_id


async def _start_long_stream(ws: ClientConnection) -> None:
    await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE)
    await send(ws, type="text", text=LONG_TEXT)
    await send(ws, type="end")


async def _settled(database_url: str, session_id: str, timeout_s: float) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while (row := await conn.fetchrow("SELECT audio_ms, charged_millicredits FROM usage_sessions "
                                          "WHERE id = $1 AND closed_at IS NOT NULL", session_id)) is None:
            assert time.monotonic() < deadline, f"session {session_id} not settled within {timeout_s} s"
            await asyncio.sleep(0.1)
        return row
    finally:
        await conn.close()


def _price_mc(audio_ms: int) -> int:
    return -(-audio_ms * TTS_MC_PER_MIN // 60_000)


async def _until_ok(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None,
                    timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while (resp := await client.get(path, headers=headers)).status_code != 200:
        assert time.monotonic() < deadline, resp.text
        await asyncio.sleep(0.1)
    return resp


def _assert_unavailable(resp: httpx.Response, code: str) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == code
    assert resp.headers["retry-after"]


async def _refused_at_start(server: RunningServer, key: str, code: str) -> None:
    async with connect(server, key) as ws:
        await send(ws, type="start", language="en")
        got = await collect(ws, timeout_s=60, any_close=True)
    assert [e["code"] for e in got.of_type("error")] == [code], got.events
    assert got.close_code == 1013


@pytest.fixture
async def scratch() -> AsyncIterator[tuple[str, str]]:
    """A database name and Redis key prefix of this test's own (dropped after)."""
    name = uuid.uuid4().hex[:12]
    database_url = servers.test_database_url(f"outage_{name}")
    prefix = f"dubletest:outage:{name}:"
    yield database_url, prefix
    await asyncio.to_thread(drop_database, database_url)
    client = connect_redis(REDIS_URL)
    await delete_prefix(client, prefix)
    await client.aclose()


async def test_redis_outage_mid_stream_is_reported_and_recovered(tmp_path: Path, scratch: tuple[str, str]) -> None:
    database_url, _ = scratch
    with own_redis(tmp_path) as redis_server:
        env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_FAKE_TTS_LATENCY_MS": "100", "REDIS_URL": redis_server.url,
               "DUBLE_TTS_CACHE_ENABLED": "false"}
        with run_server(tmp_path, env, keep_database=database_url) as server:
            key, headers = create_account(server)
            got = Received()
            async with connect(server, key) as ws:
                await _start_long_stream(ws)
                session_id = await _read_audio(ws, got, 1000)
                redis_server.stop()
                rest = await collect(ws, timeout_s=90, any_close=True)
            got.audio += rest.audio
            errors = [e for e in got.events + rest.events if e["type"] == "error"]
            assert [e["code"] for e in errors] == ["billing_unavailable"], errors
            assert rest.close_code == 1013
            assert not rest.of_type("done")

            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                _assert_unavailable(await client.get("/v1/account", headers=headers), "billing_unavailable")
                _assert_unavailable(await client.get("/healthz"), "billing_unavailable")
                await _refused_at_start(server, key, "billing_unavailable")
                # Sign-up needs no Redis: its rate limit fails open.
                signup = await client.post("/v1/accounts", json={"email": f"o{uuid.uuid4().hex[:8]}@example.com"})
                assert signup.status_code == 201, signup.text

                # The ledger holds exactly what reached the client, although Redis went away mid-stream.
                row = await _settled(database_url, session_id, 30)
                assert row["audio_ms"] == _ms(got.audio)
                assert row["charged_millicredits"] == _price_mc(row["audio_ms"])

                redis_server.start()  # empty: the cache is rebuilt from PostgreSQL
                await _until_ok(client, "/healthz")
                async with connect(server, key) as ws:
                    await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE)
                    second_id = (await next_event(ws))["session_id"]
                    await send(ws, type="text", text="Back again.")
                    await send(ws, type="end")
                    again = await collect(ws, timeout_s=60)
                assert again.of_type("done") and again.close_code == 1000, again.events
                second = await _settled(database_url, second_id, 30)
                assert second["audio_ms"] == _ms(again.audio)
                account = (await _until_ok(client, "/v1/account", headers)).json()
                spent = row["charged_millicredits"] + second["charged_millicredits"]
                assert account["credits"] == (100_000 - spent) / 1000
            log = server.log()
            assert "internal_error" not in log and "Traceback" not in log, log[-4000:]


async def test_postgres_outage_answers_503_and_recovers(tmp_path: Path, scratch: tuple[str, str]) -> None:
    _, prefix = scratch
    with own_postgres() as pg:
        env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_REDIS_PREFIX": prefix, "DUBLE_TTS_CACHE_ENABLED": "false"}
        with run_server(tmp_path, env, keep_database=f"{pg.admin_url}/duble") as server:
            key, headers = create_account(server)
            pg.stop()
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                _assert_unavailable(await client.get("/v1/account", headers=headers), "database_unavailable")
                _assert_unavailable(await client.get("/v1/voices", headers=headers), "database_unavailable")
                _assert_unavailable(await client.post("/v1/accounts", json={"email": "pg@example.com"}),
                                    "database_unavailable")
                _assert_unavailable(await client.get("/healthz"), "database_unavailable")
                async with connect(server, key) as ws:
                    got = await collect(ws, timeout_s=60, any_close=True)
                assert [e["code"] for e in got.of_type("error")] == ["database_unavailable"], got.events
                assert got.close_code == 1013

                pg.start()
                await _until_ok(client, "/healthz")
                await _until_ok(client, "/v1/account", headers)
            # asyncpg's pool logs its own reconnection attempts (with a traceback); the app logs none.
            log = server.log()
            assert "Exception in ASGI application" not in log and "internal_error" not in log, log[-4000:]


async def test_sigkilled_server_sessions_are_settled_by_a_peer_in_time(tmp_path: Path,
                                                                      scratch: tuple[str, str]) -> None:
    database_url, prefix = scratch
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_FAKE_TTS_LATENCY_MS": "100", "DUBLE_REDIS_PREFIX": prefix,
           "DUBLE_TTS_CACHE_ENABLED": "false"}  # the default settlement interval (5 s), as documented
    got = Received()
    # The peer runs before the crash, so that its start-up time is not part of what is measured.
    with run_server(tmp_path, env, keep_database=database_url) as peer:
        with run_server(tmp_path, env, keep_database=database_url) as doomed:
            key, _ = create_account(doomed)
            async with connect(doomed, key) as ws:
                await _start_long_stream(ws)
                session_id = await _read_audio(ws, got, 2000)
                os.kill(doomed.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                rest: Any = await collect(ws, timeout_s=30, any_close=True)
                got.audio += rest.audio
        row = await _settled(database_url, session_id, CRASH_SETTLE_BOUND_S + 30)
        settled_after_s = time.monotonic() - killed_at
        assert settled_after_s < CRASH_SETTLE_BOUND_S, settled_after_s
        # Redis had every charge made before the kill: at least what the client read, less the one chunk
        # (200 ms) that may have been sent but not yet charged.
        assert row["audio_ms"] >= _ms(got.audio) - 200, (row["audio_ms"], _ms(got.audio))
        assert row["charged_millicredits"] == _price_mc(row["audio_ms"])
        assert "Traceback" not in peer.log()
