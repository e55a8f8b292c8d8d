"""Credits drawn by a real TTS WebSocket stream (server with the fake engine and 1 credit = 6 s at sign-up)."""

from __future__ import annotations

import asyncio
import time

import httpx
from websockets.asyncio.client import ClientConnection

from billing.redis_client import connect_redis
from tests.billing.conftest import delete_prefix
from tests.helpers import create_account
from tests.realtime.ws_client import Received, connect, next_event, send
from tests.realtime.ws_client import collect as collect_all
from tests.servers import REDIS_URL, RunningServer

RATE = 24_000
LONG_TEXT = "This sentence is long enough to cost more than one credit of audio. " * 5  # ~20 s


def _audio_ms(got: Received) -> float:
    return len(got.audio) / 2 / RATE * 1000


async def _get(server: RunningServer, path: str, headers: dict[str, str] | None = None,
               **params: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"{server.base_url}{path}", headers=headers, params=params)


async def _wait_credits(server: RunningServer, headers: dict[str, str], expected: float,
                        timeout_s: float = 10) -> float:
    """Settlement at session end runs after the socket closes; poll briefly."""
    deadline = time.monotonic() + timeout_s
    while (value := (await _get(server, "/v1/account", headers)).json()["credits"]) != expected:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    result: float = value
    return result


async def collect(ws: ClientConnection, timeout_s: float) -> Received:
    """Everything until the server closes, whatever the close code."""
    return await collect_all(ws, timeout_s, any_close=True)


async def _stream(server: RunningServer, key: str, text: str, **start: object) -> Received:
    async with connect(server, key) as ws:
        await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE, **start)
        started = await next_event(ws)
        assert started["type"] == "started", started
        await send(ws, type="text", text=text)
        await send(ws, type="end")
        return await collect(ws, timeout_s=60)


async def test_stream_stops_after_the_last_paid_audio(billing_server: RunningServer) -> None:
    key, headers = create_account(billing_server)
    got = await _stream(billing_server, key, LONG_TEXT)
    assert abs(_audio_ms(got) - 6_000) <= 1  # exactly what one credit buys
    last = got.events[-1]
    assert last["type"] == "error" and last["code"] == "insufficient_credits"
    assert got.timeline[-1] == ("event", "error", got.timeline[-1][2])  # no audio after the error
    assert got.close_code == 4402
    usage = got.of_type("usage")
    assert len(usage) >= 3
    assert [u["audio_ms"] for u in usage] == sorted(u["audio_ms"] for u in usage)
    assert usage[-1] == {"type": "usage", "audio_ms": 6000, "credits_used": 1.0, "credits_left": 0.0}
    assert await _wait_credits(billing_server, headers, 0.0) == 0.0
    # Nothing left: a new session is refused at start.
    async with connect(billing_server, key) as ws:
        await send(ws, type="start", language="en")
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "insufficient_credits"


async def test_two_streams_racing_one_balance(billing_server: RunningServer) -> None:
    key, headers = create_account(billing_server)
    async with connect(billing_server, key) as ws1, connect(billing_server, key) as ws2:
        for ws in (ws1, ws2):  # both hold a reservation before either speaks
            await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE)
            assert (await next_event(ws))["type"] == "started"
        for ws in (ws1, ws2):
            await send(ws, type="text", text=LONG_TEXT)
            await send(ws, type="end")
        both = await asyncio.gather(collect(ws1, 60), collect(ws2, 60))
    total_ms = sum(_audio_ms(g) for g in both)
    # Each session may leave what rounding paid for unspent (< 6 ms) and rounds its samples down (< 1 ms).
    assert 6_000 - 12 <= total_ms < 6_000 + 2
    assert all(g.events[-1].get("code") == "insufficient_credits" for g in both)
    assert await _wait_credits(billing_server, headers, 0.0) == 0.0  # never below zero


async def test_usage_per_tag_and_final_usage_before_done(billing_server: RunningServer) -> None:
    key, headers = create_account(billing_server)
    got = await _stream(billing_server, key, "Twenty chars exactly", tag="campanha-7")  # 20 chars: 1.2 s
    assert [e["type"] for e in got.events][-2:] == ["usage", "done"]
    assert got.events[-2]["audio_ms"] == 1_200 and got.events[-2]["credits_used"] == 0.2
    assert got.close_code == 1000
    assert await _wait_credits(billing_server, headers, 0.8) == 0.8
    body = (await _get(billing_server, "/v1/usage", headers)).json()
    assert body["tags"] == [{"tag": "campanha-7", "seconds": 1.2, "credits": 0.2}]
    assert body["operations"] == [{"operation": "tts", "seconds": 1.2, "credits": 0.2}]
    assert body["total"] == {"seconds": 1.2, "credits": 0.2}
    bad = await _get(billing_server, "/v1/usage", headers, **{"from": "2030-01-01T00:00:00Z",
                                                              "to": "2029-01-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_range"
    assert (await _get(billing_server, "/v1/usage")).status_code == 401


async def test_bad_tag_is_refused(billing_server: RunningServer) -> None:
    key, _ = create_account(billing_server)
    async with connect(billing_server, key) as ws:
        await send(ws, type="start", language="en", tag="x" * 65)
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "invalid_message"


async def test_redis_flushed_mid_stream_loses_nothing(billing_server: RunningServer) -> None:
    key, headers = create_account(billing_server)
    redis = connect_redis(REDIS_URL)
    try:
        async with connect(billing_server, key) as ws:
            await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE)
            started = await next_event(ws)
            assert started["type"] == "started", started
            await send(ws, type="text", text="Thirty characters in a row ok.")  # 1.8 s
            await send(ws, type="flush")
            while (await next_event(ws))["type"] != "segment":
                pass
            assert await delete_prefix(redis, billing_server.redis_prefix) > 0  # Redis lost everything
            await send(ws, type="text", text="Thirty characters in a row ok.")
            await send(ws, type="end")
            got = await collect(ws, timeout_s=60)
        assert got.events[-1]["type"] == "done"
        assert got.of_type("usage")[-1]["audio_ms"] == 3_600
    finally:
        await redis.aclose()
    assert await _wait_credits(billing_server, headers, 0.4) == 0.4
    # The rebuilt balance still bounds the next session exactly.
    rest = await _stream(billing_server, key, LONG_TEXT)
    assert abs(_audio_ms(rest) - 2_400) <= 1
    assert await _wait_credits(billing_server, headers, 0.0) == 0.0


async def test_account_credits_are_live_during_a_stream(billing_server: RunningServer) -> None:
    key, headers = create_account(billing_server)
    before = (await _get(billing_server, "/v1/account", headers)).json()["credits"]
    async with connect(billing_server, key) as ws:
        await send(ws, type="start", language="en", format="pcm_s16le", sample_rate=RATE)
        assert (await next_event(ws))["type"] == "started"
        await send(ws, type="text", text="This sentence lasts for about three seconds. ")
        await send(ws, type="flush")
        usage = await next_event(ws, skip=())
        while usage["type"] != "usage":
            usage = await next_event(ws, skip=())
        during = (await _get(billing_server, "/v1/account", headers)).json()["credits"]
        # Settlement to the ledger has not run yet; the account view still shows what was streamed.
        assert during <= before - usage["credits_used"]
