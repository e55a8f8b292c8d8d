"""Helpers of the hostile WebRTC tests (no tests here): a signalling client, offers from a real aiortc peer, and
the billing checks (PostgreSQL and Redis, read directly)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from billing.redis_client import connect_redis
from realtime.transports.webrtc import gather_only_on
from tests.servers import REDIS_URL, RunningServer

SETTLE_TIMEOUT_S = 20.0


def connect(server: RunningServer, api_key: str) -> Any:
    return websockets.connect(f"{server.ws_url}/v1/webrtc/signal?api_key={api_key}", max_size=None,
                              open_timeout=10)


async def recv_event(ws: Any, *, skip: tuple[str, ...] = (), timeout_s: float = 60) -> dict[str, Any]:
    """The next JSON event whose type is not in ``skip``."""
    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.recv()
            if isinstance(msg, str):
                event: dict[str, Any] = json.loads(msg)
                if event["type"] not in skip:
                    return event


async def wait_closed(ws: Any, timeout_s: float = 30) -> int | None:
    """Drain the socket until the server closes it; its close code."""
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    code: int | None = ws.close_code
    return code


async def offer_sdp(pc: RTCPeerConnection | None = None) -> str:
    """An aiortc offer with host candidates on 127.0.0.1 only; from ``pc``, or from a throwaway peer (closed
    before returning, so checks sent to its candidate never get an answer)."""
    own = pc is None
    peer = pc or RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        if own:
            peer.addTrack(AudioStreamTrack())
        await gather_only_on(peer, "127.0.0.1")
        await peer.setLocalDescription(await peer.createOffer())
        sdp: str = peer.localDescription.sdp
        return sdp
    finally:
        if own:
            await peer.close()


async def account_id(server: RunningServer, api_key: str) -> str:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{server.base_url}/v1/account", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["account_id"])


async def billing_state(database_url: str, redis_prefix: str, account: str) -> tuple[int, int, int, int]:
    """(sessions the ledger closed, sessions still open there, usage millicredits, sessions live in Redis)."""
    conn = await asyncpg.connect(database_url)
    try:
        closed, still_open = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE closed_at IS NOT NULL), count(*) FILTER (WHERE closed_at IS NULL) "
            "FROM usage_sessions WHERE account_id = $1", account)
        used = await conn.fetchval("SELECT coalesce(sum(amount_millicredits), 0) FROM ledger_entries "
                                   "WHERE account_id = $1 AND kind = 'usage'", account)
    finally:
        await conn.close()
    redis = connect_redis(REDIS_URL)
    try:
        live = [m for m in await redis.smembers(f"{redis_prefix}bill:live") if m.decode().startswith(account)]
    finally:
        await redis.aclose()
    return int(closed), int(still_open), int(used), len(live)


async def assert_no_open_billing(server: RunningServer, api_key: str, *, sessions: int = 1) -> None:
    """Every one of the account's ``sessions`` gets closed in the ledger and released in Redis, uncharged."""
    account = await account_id(server, api_key)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        state = await billing_state(server.database_url, server.redis_prefix, account)
        if state == (sessions, 0, 0, 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert state == (sessions, 0, 0, 0), f"(closed, open, usage_mc, live in Redis) = {state}"
