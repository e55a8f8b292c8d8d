"""Faults under a live stream, on a private redis-server and PostgreSQL: each restarted mid-stream, and a client that
vanishes. The service recovers without a restart, the client hears a clear outcome, and the ledger afterwards holds
exactly the audio the server delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.ops.cluster import Instance, cluster_env, start_instance
from tests.ops.own_services import OwnPostgres, OwnRedis, own_postgres, own_redis
from tests.ops.streams import audio_ms, new_account, read_audio, read_rest, settled_ledger, start_long_stream, stats
from tests.realtime.ws_client import Received, connect, next_event, send

TEXT = "A sentence that keeps the stream going for a few seconds more. " * 5  # ~19 s of tone, ~5 s to stream


@dataclass
class Stack:
    redis: OwnRedis
    postgres: OwnPostgres
    instance: Instance

    @property
    def database_url(self) -> str:
        return self.instance.server.database_url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with own_redis() as redis, own_postgres() as postgres, ExitStack() as stop:
        env = cluster_env(redis_url=redis.url, database_url=f"{postgres.admin_url}/duble")
        instance = start_instance(tmp_path_factory.mktemp("faults"), "api", env, stop)
        yield Stack(redis, postgres, instance)


async def _still_serves(stack: Stack, key: str) -> None:
    """A new session starts and streams, on the same process (a retry or two while the stores come back)."""
    for _ in range(50):
        async with connect(stack.instance.server, key) as ws:
            await send(ws, type="start", language="en")
            event = await next_event(ws)
            if event["type"] == "started":
                await send(ws, type="text", text="Back again.")
                await send(ws, type="end")
                got = await read_rest(ws, Received())
                assert got.close_code == 1000 and audio_ms(got.audio) > 0
                assert stack.instance.proc.poll() is None
                return
            assert event["type"] == "error" and event["code"] in {"billing_unavailable", "internal_error"}, event
        await asyncio.sleep(0.2)
    pytest.fail("the service did not recover")


def _outcome(got: Received) -> str:
    """How the stream ended: 'done', or the error code the client was told."""
    errors = got.of_type("error")
    if errors:
        return str(errors[-1]["code"])
    assert got.of_type("done"), got.events[-3:]
    return "done"


async def test_redis_restarted_empty_mid_stream(stack: Stack) -> None:
    key, account_id = new_account(stack.instance.server)
    got = Received()
    async with connect(stack.instance.server, key) as ws:
        await start_long_stream(ws, TEXT)
        await read_audio(ws, got, 1000)
        await asyncio.to_thread(stack.redis.restart)
        await read_rest(ws, got)
    outcome = _outcome(got)
    view = await settled_ledger(stack.database_url, account_id)
    assert view.entry_audio_ms == view.session_audio_ms
    # Billed from the meter's own totals, not from what Redis lost.
    assert abs(view.session_audio_ms - audio_ms(got.audio)) <= 1, (outcome, view, audio_ms(got.audio),
                                                                    got.events[-3:])
    # The stream either rode out the outage or was told why it stopped.
    assert outcome in {"done", "billing_unavailable"}
    await _still_serves(stack, key)


async def test_postgres_restarted_mid_stream(stack: Stack) -> None:
    key, account_id = new_account(stack.instance.server)
    got = Received()
    async with connect(stack.instance.server, key) as ws:
        await start_long_stream(ws, TEXT)
        await read_audio(ws, got, 1000)
        await asyncio.to_thread(stack.postgres.restart)
        await read_rest(ws, got)
    assert _outcome(got) == "done"  # the stream never needed PostgreSQL: it settles when it is back
    view = await settled_ledger(stack.database_url, account_id)
    assert view.entry_audio_ms == view.session_audio_ms
    assert abs(view.session_audio_ms - audio_ms(got.audio)) <= 1
    await _still_serves(stack, key)


async def test_a_client_vanishing_mid_stream_is_settled_and_forgotten(stack: Stack) -> None:
    key, account_id = new_account(stack.instance.server)
    got = Received()
    ws = await connect(stack.instance.server, key)
    await start_long_stream(ws, TEXT)
    await read_audio(ws, got, 1000)
    ws.transport.abort()  # no close frame: the peer just disappears
    view = await settled_ledger(stack.database_url, account_id)
    assert view.entry_audio_ms == view.session_audio_ms
    # Charged what the server wrote before it noticed; never the rest of the text.
    assert audio_ms(got.audio) <= view.session_audio_ms < audio_ms(got.audio) + 5_000
    for _ in range(100):
        if (await stats(stack.instance.server))["sessions"]["open"] == 0:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the vanished client's session stayed open")
