"""Audio a client never read is not billed beyond the ack window (docs/protocol.md, flow control): a real server,
clients on bare sockets that read nothing or 1 byte a second, settlement read back from PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import create_account
from tests.realtime.raw_ws import RawWebSocket
from tests.realtime.vc_support import VCSetup, start_vc_server, to_pcm, tone
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import RunningServer, run_server

RATE = 24_000
BYTES_PER_MS = RATE * 2 // 1000
WINDOW_MS = 3_000
STALL_TIMEOUT_S = 2.0
MAX_UNREAD_MS = 5_000  # the promise: at most this much billed beyond what a client read
# The server cuts a stalled client off STALL_TIMEOUT_S after its window filled; the rest is start-up and settlement
# on a loaded machine (a generous bound, not a measurement).
CUT_OFF_WITHIN_S = STALL_TIMEOUT_S + 20
SENTENCE = "Esta frase tem exatamente sessenta caracteres de texto aqui. "  # 60 chars: 3.6 s with the fake engine
LONG_TEXT = SENTENCE * 10  # 36 s of audio, far more than the window


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_TTS_CACHE_ENABLED": "false", "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5",
           "DUBLE_WS_ACK_WINDOW_MS": str(WINDOW_MS), "DUBLE_WS_STALL_TIMEOUT_S": str(STALL_TIMEOUT_S)}
    with run_server(tmp_path_factory.mktemp("unread"), env) as srv:
        yield srv


@pytest.fixture
async def db(server: RunningServer) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(server.database_url)
    yield conn
    await conn.close()


@dataclass
class Settled:
    audio_ms: int
    charged_mc: int
    ledger_mc: int  # the sum of the session's usage entries


async def settled(db: asyncpg.Connection, session_id: str, timeout_s: float = CUT_OFF_WITHIN_S) -> Settled:
    """Wait until the session is closed in the ledger (the server ended it and settled it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = await db.fetchrow("SELECT audio_ms, charged_millicredits, closed_at FROM usage_sessions WHERE id = $1",
                                session_id)
        if row is not None and row["closed_at"] is not None:
            ledger = await db.fetchval(
                "SELECT COALESCE(-SUM(amount_millicredits), 0) FROM ledger_entries "
                "WHERE kind = 'usage' AND details->>'session_id' = $1", session_id)
            return Settled(int(row["audio_ms"]), int(row["charged_millicredits"]), int(ledger))
        assert time.monotonic() < deadline, f"session {session_id} was not closed and settled in {timeout_s} s"
        await asyncio.sleep(0.05)


@dataclass
class Drained:
    audio_bytes: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None


async def drain(ws: RawWebSocket) -> Drained:
    """Read everything the server left in the socket, up to its close frame."""
    got = Drained()
    async with asyncio.timeout(30):
        while True:
            opcode, payload = await ws.frame()
            if opcode == 2:
                got.audio_bytes += len(payload)
            elif opcode == 1:
                got.events.append(json.loads(payload))
            elif opcode == 8:
                got.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                return got


async def open_stream(server: RunningServer, key: str, text: str) -> tuple[RawWebSocket, str]:
    ws = await RawWebSocket.open(server, f"/v1/tts/stream?api_key={key}")
    await ws.send_json(type="start", language="pt-BR", format="pcm_s16le", sample_rate=RATE)
    started = await ws.next_event()
    assert started["type"] == "started", started
    await ws.send_json(type="text", text=text)
    await ws.send_json(type="end")
    return ws, str(started["session_id"])


def price_mc(audio_ms: int, credits_per_min: int = 10) -> int:
    return -(-audio_ms * credits_per_min * 1000 // 60_000)


async def test_a_client_that_never_reads_pays_for_at_most_the_window_and_is_cut_off(
        server: RunningServer, db: asyncpg.Connection) -> None:
    key, _ = create_account(server)
    t0 = time.monotonic()
    ws, session_id = await open_stream(server, key, LONG_TEXT)
    try:
        bill = await settled(db, session_id)  # the client reads nothing meanwhile
        elapsed_s = time.monotonic() - t0
        read_before_settlement = ws.bytes_read
        got = await drain(ws)
    finally:
        ws.close()
    assert elapsed_s >= STALL_TIMEOUT_S  # it waited for acks before giving up …
    assert elapsed_s < CUT_OFF_WITHIN_S  # … and did not wait for the stream's 36 s
    assert got.close_code == 4408
    assert got.events[-1]["type"] == "error" and got.events[-1]["code"] == "client_stalled", got.events[-1]
    received_ms = got.audio_bytes // BYTES_PER_MS
    # What sat unread in the socket buffers is all that was billed, and it is within the window.
    assert bill.audio_ms == received_ms <= WINDOW_MS
    assert bill.audio_ms <= MAX_UNREAD_MS + read_before_settlement // BYTES_PER_MS
    assert bill.charged_mc == bill.ledger_mc == price_mc(bill.audio_ms)
    usage = [e for e in got.events if e["type"] == "usage"]
    assert usage and usage[-1]["audio_ms"] <= bill.audio_ms


async def test_twenty_clients_reading_one_byte_a_second_pay_for_at_most_five_seconds_each(
        server: RunningServer, db: asyncpg.Connection) -> None:
    key, headers = create_account(server)
    streams = [await open_stream(server, key, LONG_TEXT) for _ in range(20)]

    async def trickle(ws: RawWebSocket) -> None:
        while True:
            if not await ws.read(1):
                return
            await asyncio.sleep(1.0)  # the client's behaviour under test: one byte a second

    readers = [asyncio.create_task(trickle(ws)) for ws, _ in streams]
    try:
        bills = [await settled(db, session_id) for _, session_id in streams]
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for ws, _ in streams:
            ws.close()
    read_ms = [ws.bytes_read // BYTES_PER_MS for ws, _ in streams]
    for bill, read in zip(bills, read_ms, strict=True):
        assert bill.audio_ms <= MAX_UNREAD_MS + read
        assert bill.charged_mc == bill.ledger_mc == price_mc(bill.audio_ms)
    total_ms = sum(b.audio_ms for b in bills)
    assert total_ms <= 20 * MAX_UNREAD_MS + sum(read_ms)
    async with httpx.AsyncClient() as http:
        credits = (await http.get(f"{server.base_url}/v1/account", headers=headers)).json()["credits"]
    assert credits == (100_000 - sum(b.charged_mc for b in bills)) / 1000  # the rest of the balance is intact


async def test_an_acking_client_gets_all_its_audio_and_pays_exactly_for_it(
        server: RunningServer, db: asyncpg.Connection) -> None:
    key, _ = create_account(server)
    async with connect(server, key) as ws:
        await send(ws, type="start", language="pt-BR", format="pcm_s16le", sample_rate=RATE)
        started = await next_event(ws)
        await send(ws, type="text", text=LONG_TEXT)
        await send(ws, type="end")
        got = await collect(ws, timeout_s=60)
    assert got.close_code == 1000
    received_ms = len(got.audio) // BYTES_PER_MS
    segments = got.of_type("segment")
    assert len(segments) == 10 and sum(s["duration_ms"] for s in segments) == received_ms  # every sentence, whole
    assert received_ms > 10 * WINDOW_MS
    assert got.of_type("done")[0]["audio_ms"] == received_ms
    bill = await settled(db, str(started["session_id"]))
    assert bill.audio_ms == received_ms
    assert bill.charged_mc == bill.ledger_mc == price_mc(received_ms)
    assert got.of_type("usage")[-1]["audio_ms"] == received_ms


async def test_acks_are_validated(server: RunningServer) -> None:
    key, _ = create_account(server)
    async with connect(server, key, ack=False) as ws:
        await send(ws, type="ack", bytes=1)
        event = await next_event(ws)
        assert event["code"] == "invalid_ack", event  # nothing was sent yet
        await send(ws, type="start", language="pt-BR", format="pcm_s16le", sample_rate=RATE)
        assert (await next_event(ws))["type"] == "started"
        for bad in ("12", 1.5, True, None):
            await send(ws, type="ack", bytes=bad)
            event = await next_event(ws)
            assert event["code"] == "invalid_message", (bad, event)
        await send(ws, type="ack", bytes=-1)
        assert (await next_event(ws))["code"] == "invalid_ack"
        await send(ws, type="text", text="Uma frase curta.")
        await send(ws, type="flush")
        received = 0
        while received < 16 * 60 * BYTES_PER_MS:
            msg = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(msg, bytes):
                received += len(msg)
        await send(ws, type="ack", bytes=received + 1)
        event = await next_event(ws, skip=("usage", "segment"))
        assert event["code"] == "invalid_ack" and str(received) in event["message"], event
        await send(ws, type="ack", bytes=received)
        await send(ws, type="end")
        got = await collect(ws, timeout_s=30)
    assert got.of_type("done") and got.close_code == 1000  # the bad acks cost the stream nothing


@pytest.fixture(scope="module")
def vc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCSetup]:
    yield from start_vc_server(tmp_path_factory.mktemp("unread-vc"), {
        "DUBLE_WS_ACK_WINDOW_MS": str(WINDOW_MS), "DUBLE_WS_STALL_TIMEOUT_S": str(STALL_TIMEOUT_S),
        "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5"})


async def test_a_live_conversion_client_that_never_reads_is_cut_off(vc: VCSetup) -> None:
    rate = 16_000
    ws = await RawWebSocket.open(vc.server, f"/v1/vc/stream?api_key={vc.api_key}")
    conn = await asyncpg.connect(vc.server.database_url)
    try:
        await ws.send_json(type="start", voice_id=vc.voice_id, sample_rate=rate)
        started = await ws.next_event()
        assert started["type"] == "started", started
        audio = to_pcm(tone(180, 8.0, rate))
        step = rate // 50 * 2
        for pos in range(0, len(audio), step):  # 8 s of microphone audio, far more than the window
            await ws.send_binary(audio[pos:pos + step])
        bill = await settled(conn, str(started["session_id"]))  # the client reads nothing meanwhile
        got = await drain(ws)
    finally:
        ws.close()
        await conn.close()
    assert got.close_code == 4408
    assert got.events[-1]["code"] == "client_stalled", got.events[-1]
    received_ms = got.audio_bytes * 1000 // (2 * rate)
    assert bill.audio_ms == received_ms <= WINDOW_MS
    assert bill.charged_mc == bill.ledger_mc == price_mc(bill.audio_ms, credits_per_min=5)
