"""Text that reaches PostgreSQL is checked at the edge: NUL, control characters and blank names are refused with a
clear error (422 JSON or an ``invalid_message`` event), nothing of them is stored, and the server restarts cleanly.
Start messages take strict types (``"sample_rate": "24000"`` is refused)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from billing.redis_client import connect_redis
from tests import servers
from tests.billing.conftest import delete_prefix
from tests.helpers import create_account, espeak_wav
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import REDIS_URL, RunningServer, drop_database, run_server

HOSTILE = ["camp\u0000anha", "a\u001bb", "tab\there", "line\nbreak", "c1\u0085x", "del\u007fx"]


def _assert_422(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["message"]


@pytest.mark.parametrize("email", ["a\u0000b@example.com", "a\u001b@example.com", "x@exa\u0085mple.com"])
def test_signup_email_with_control_characters_is_422(fake_server: RunningServer, email: str) -> None:
    resp = httpx.post(f"{fake_server.base_url}/v1/accounts", json={"email": email})
    _assert_422(resp, "email")


def test_signup_email_is_trimmed(fake_server: RunningServer) -> None:
    email = f"t{uuid.uuid4().hex[:10]}@example.com"
    resp = httpx.post(f"{fake_server.base_url}/v1/accounts", json={"email": f"  {email} "})
    assert resp.status_code == 201, resp.text
    key = resp.json()["api_key"]
    account = httpx.get(f"{fake_server.base_url}/v1/account", headers={"Authorization": f"Bearer {key}"})
    assert account.json()["email"] == email


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": "minha\u0000voz"}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "\u0085"}, "name"),
    ({"name": "ok", "reference_text": "texto\u0000aqui"}, "reference_text"),
    ({"name": "ok", "reference_text": "bell\u0007"}, "reference_text"),
])
def test_voice_text_fields_are_checked(fake_server: RunningServer, fields: dict[str, str], field: str) -> None:
    _, headers = create_account(fake_server)
    resp = httpx.post(f"{fake_server.base_url}/v1/voices", headers=headers, data={"language": "pt-BR", **fields},
                      files={"audio": ("a.wav", b"RIFF0000WAVE", "audio/wav")})
    _assert_422(resp, field)
    listed = httpx.get(f"{fake_server.base_url}/v1/voices", headers=headers).json()
    assert listed == {"voices": []}


def test_voice_name_is_trimmed_and_reference_text_keeps_lines(fake_server: RunningServer, tmp_path: Path) -> None:
    _, headers = create_account(fake_server)
    wav = espeak_wav(tmp_path / "ref.wav", "Olá, pessoal! Hoje vamos testar a minha voz com calma e clareza.")
    with open(wav, "rb") as fh:
        resp = httpx.post(f"{fake_server.base_url}/v1/voices", headers=headers,
                          data={"name": "  minha voz  ", "language": "pt-BR",
                                "reference_text": " linha um\r\n\tlinha dois "},
                          files={"audio": ("ref.wav", fh, "audio/wav")}, timeout=60)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["name"] == "minha voz"
    assert body["reference_text"] == "linha um\n\tlinha dois"


@pytest.mark.parametrize("label", ["obs\u0000cena", "obs\u001b[31m", "   "])
def test_listen_token_label_is_checked(fake_server: RunningServer, label: str) -> None:
    _, headers = create_account(fake_server)
    resp = httpx.post(f"{fake_server.base_url}/v1/listen-tokens", headers=headers, json={"label": label})
    _assert_422(resp, "label")
    assert httpx.get(f"{fake_server.base_url}/v1/listen-tokens", headers=headers).json() == {"listen_tokens": []}


def test_checkout_plan_with_nul_is_422(fake_server: RunningServer) -> None:
    _, headers = create_account(fake_server)
    resp = httpx.post(f"{fake_server.base_url}/v1/payments/checkout", headers=headers, json={"plan": "basic\u0000"})
    _assert_422(resp, "plan")


@pytest.mark.parametrize("bad", [{"sample_rate": "24000"}, {"speed": "1.0"}, {"convert": "true"},
                                 {"pitch": "2"}, {"tag": 5}])
async def test_tts_start_takes_strict_types(fake_server: RunningServer, bad: dict[str, Any]) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", language="en", **bad)
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "invalid_message", event
        assert next(iter(bad)) in event["message"]
        await send(ws, type="start", language="en")  # the connection stays usable
        assert (await next_event(ws))["type"] == "started"


async def test_vc_start_takes_strict_types(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key, "/v1/vc/stream") as ws:
        await send(ws, type="start", voice_id=str(uuid.uuid4()), sample_rate="16000")
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "invalid_message", event
        assert "sample_rate" in event["message"]
        await send(ws, type="start", voice_id=str(uuid.uuid4()), tag="x\u0000y")
        event = await next_event(ws)
        assert event["type"] == "error" and event["code"] == "invalid_message", event
        assert "tag" in event["message"]


async def _stored_tags(database_url: str, session_id: str, timeout_s: float = 30) -> list[str | None]:
    """Every tag PostgreSQL holds, once the session is settled (that runs just after the socket closes)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while not await conn.fetchval("SELECT closed_at IS NOT NULL FROM usage_sessions WHERE id = $1", session_id):
            assert time.monotonic() < deadline, "the session was not settled"
            await asyncio.sleep(0.05)
        rows = await conn.fetch("SELECT tag FROM usage_sessions UNION ALL "
                                "SELECT details->>'tag' FROM ledger_entries WHERE kind = 'usage'")
        return [r["tag"] for r in rows]
    finally:
        await conn.close()


async def _redis_session_tags(prefix: str) -> list[bytes]:
    client = connect_redis(REDIS_URL)
    try:
        return [await client.hget(key, "tag") or b"" async for key in client.scan_iter(match=f"{prefix}bill:*:s:*")]
    finally:
        await client.aclose()


async def test_hostile_tags_are_refused_nothing_is_stored_and_the_server_restarts(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    database_url = servers.test_database_url(f"edge_{tag}")
    prefix = f"dubletest:edge:{tag}:"
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_REDIS_PREFIX": prefix, "DUBLE_TTS_CACHE_ENABLED": "false"}
    try:
        with run_server(tmp_path, env, keep_database=database_url) as first:
            key, headers = create_account(first)
            async with connect(first, key) as ws:
                for hostile in HOSTILE:
                    await send(ws, type="start", language="en", tag=hostile)
                    event = await next_event(ws)
                    assert event["type"] == "error" and event["code"] == "invalid_message", (hostile, event)
                    assert "tag" in event["message"]
                assert await _redis_session_tags(prefix) == []
                await send(ws, type="start", language="en", tag="  campanha  ")
                started = await next_event(ws)
                assert started["type"] == "started"
                await send(ws, type="text", text="Hello there.")
                await send(ws, type="end")
                got = await collect(ws, timeout_s=60)
            assert got.of_type("done"), got.events
            stored = await _stored_tags(database_url, started["session_id"])
            assert len(stored) >= 2 and set(stored) == {"campanha"}, stored  # the session row and its usage
        with run_server(tmp_path, env, keep_database=database_url) as second:
            async with httpx.AsyncClient() as client:
                resp = await client.get(f"{second.base_url}/v1/account", headers=headers)
            assert resp.status_code == 200, resp.text
            assert "Application startup failed" not in second.log()
    finally:
        await asyncio.to_thread(drop_database, database_url)
        redis_client = connect_redis(REDIS_URL)
        await delete_prefix(redis_client, prefix)
        await redis_client.aclose()
