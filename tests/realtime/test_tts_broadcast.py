"""Relaying a TTS stream to listeners (``broadcast`` → ``/v1/tts/listen``), on the deterministic tone engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime.vc_support import stream as vc_stream
from tests.realtime.vc_support import tone
from tests.realtime.ws_client import Received, collect, connect, next_event, send
from tests.servers import RunningServer

TEXT = "Boa noite, chat. Obrigado pelo apoio de hoje! Até amanhã."


async def _listen_until_source_ended(ws: Any, timeout_s: float = 60) -> Received:
    got = Received()

    async def loop() -> None:
        async for msg in ws:
            if isinstance(msg, bytes):
                got.audio += msg
                continue
            event = json.loads(msg)
            got.events.append(event)
            if event["type"] == "source_ended":
                return

    await asyncio.wait_for(loop(), timeout=timeout_s)
    return got


async def _speak(server: RunningServer, key: str, text: str, **start: Any) -> tuple[dict[str, Any], Received]:
    async with connect(server, key) as ws:
        await send(ws, type="start", language="pt-BR", **start)
        started = await next_event(ws)
        await send(ws, type="text", text=text)
        await send(ws, type="end")
        return started, await collect(ws)


async def test_listener_receives_exactly_what_the_stream_delivered(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    other_key, _ = create_account(fake_server)
    async with connect(fake_server, key, "/v1/tts/listen") as listener, \
            connect(fake_server, other_key, "/v1/tts/listen") as stranger:
        listening = await next_event(listener)
        assert listening == {"type": "listening", "channel": "obs", "format": "pcm_s16le", "sample_rate": 24000}
        assert (await next_event(stranger))["type"] == "listening"

        started, spoken = await _speak(fake_server, key, TEXT, broadcast="obs")
        heard = await _listen_until_source_ended(listener)
        # Same channel name, another account: nothing reaches it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stranger.recv(), timeout=0.5)

    assert started["listeners"] == 1
    assert spoken.close_code == 1000 and len(spoken.audio) > 24000
    assert bytes(heard.audio) == bytes(spoken.audio)
    kinds = [e["type"] for e in heard.events]
    assert kinds[0] == "source_started" and kinds[-1] == "source_ended"
    assert heard.events[0]["session_id"] == started["session_id"] == heard.events[-1]["session_id"]
    assert [e for e in heard.events if e["type"] == "segment"] == spoken.of_type("segment")


async def test_relay_is_pcm_whatever_format_the_speaker_chose(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key, "/v1/tts/listen?channel=live-2") as listener:
        await next_event(listener)
        _, spoken = await _speak(fake_server, key, TEXT, broadcast="live-2", format="ogg_opus", sample_rate=48000)
        heard = await _listen_until_source_ended(listener)
    done = spoken.of_type("done")[0]
    assert abs(len(heard.audio) / 2 / 24 - done["audio_ms"]) <= 1
    # A stream that does not broadcast, or broadcasts elsewhere, is not heard.
    async with connect(fake_server, key, "/v1/tts/listen?channel=live-2") as listener:
        await next_event(listener)
        await _speak(fake_server, key, TEXT)
        await _speak(fake_server, key, TEXT, broadcast="other")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(listener.recv(), timeout=0.5)


async def test_cancel_is_relayed(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key, "/v1/tts/listen") as listener:
        await next_event(listener)
        async with connect(fake_server, key) as ws:
            await send(ws, type="start", language="pt-BR", broadcast="obs")
            await next_event(ws)
            await send(ws, type="text", text=TEXT * 20)
            await send(ws, type="cancel")
            assert (await next_event(ws, skip=("usage", "segment")))["type"] == "cancelled"
        heard = await _listen_until_source_ended(listener)
    assert "cancelled" in [e["type"] for e in heard.events]


@pytest.mark.parametrize("query", ["channel=", "channel=a%20b", "channel=" + "x" * 33])
async def test_bad_channel(fake_server: RunningServer, query: str) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key, f"/v1/tts/listen?{query}") as listener:
        got = await collect(listener, any_close=True)
    assert got.events[0]["code"] == "invalid_channel"
    assert got.close_code == 1008


async def test_bad_broadcast_name_is_refused_at_start(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", language="pt-BR", broadcast="no spaces")
        error = await next_event(ws)
        assert error["type"] == "error" and error["code"] == "invalid_message" and "broadcast" in error["message"]
        await send(ws, type="start", language="pt-BR", broadcast="ok")
        assert (await next_event(ws))["listeners"] == 0


async def test_listener_limits_and_auth(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(8):
            ws = await stack.enter_async_context(connect(fake_server, key, "/v1/tts/listen?channel=full"))
            assert (await next_event(ws))["type"] == "listening"
        async with connect(fake_server, key, "/v1/tts/listen?channel=full") as ninth:
            got = await collect(ninth, any_close=True)
        assert got.events[0]["code"] == "too_many_listeners" and got.close_code == 1008
        # Listeners are receive-only; a message gets an error and the listener stays.
        await ws.send('{"type":"text","text":"hi"}')
        assert (await next_event(ws))["code"] == "unexpected_message"
    # Once they leave, the channel has room again (the server notices a disconnect a moment after the handshake).
    deadline = time.monotonic() + 30
    while True:
        async with connect(fake_server, key, "/v1/tts/listen?channel=full") as again:
            if (await next_event(again))["type"] == "listening":
                break
        if time.monotonic() > deadline:
            pytest.fail("the channel stayed full after its listeners left")
        await asyncio.sleep(0.1)
    async with connect(fake_server, "wrong-key", "/v1/tts/listen") as anonymous:
        got = await collect(anonymous, any_close=True)
    assert got.close_code == 4401 and got.events[0]["code"] == "unauthorized"


def _ws(server: RunningServer, query: str) -> Any:
    return websockets.connect(f"{server.ws_url}/v1/tts/listen?{query}", max_size=None, open_timeout=10)


async def test_listen_token_hears_one_channel_spends_nothing_and_is_revocable(fake_server: RunningServer) -> None:
    key, headers = create_account(fake_server)
    http = httpx.AsyncClient(base_url=fake_server.base_url)
    resp = await http.post("/v1/listen-tokens", headers=headers, json={"channel": "stage", "label": "OBS de casa"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    token = created["token"]
    assert token.startswith("lst_") and created["channel"] == "stage" and created["label"] == "OBS de casa"
    assert created["obs_path"] == f"/obs?token={token}"
    # It is not an API key: no REST, no speaking.
    assert (await http.get("/v1/account", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    async with connect(fake_server, token) as ws:
        got = await collect(ws, any_close=True)
    assert got.close_code == 4401

    async with _ws(fake_server, f"token={token}") as listener:
        assert (await next_event(listener))["channel"] == "stage"
        _, spoken = await _speak(fake_server, key, TEXT, broadcast="stage")
        heard = await _listen_until_source_ended(listener)
        assert bytes(heard.audio) == bytes(spoken.audio)

        listed = (await http.get("/v1/listen-tokens", headers=headers)).json()["listen_tokens"]
        assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
        _, other_headers = create_account(fake_server)
        assert (await http.delete(f"/v1/listen-tokens/{created['id']}", headers=other_headers)).status_code == 404
        assert (await http.delete(f"/v1/listen-tokens/{created['id']}", headers=headers)).status_code == 204
        # Revoking cuts the OBS source that was listening with it.
        revoked = await collect(listener, any_close=True, timeout_s=10)
    assert revoked.events[-1]["code"] == "token_revoked" and revoked.close_code == 4401

    async with _ws(fake_server, f"token={token}") as listener:
        got = await collect(listener, any_close=True)
    assert got.events[0]["code"] == "unauthorized" and got.close_code == 4401
    assert (await http.delete(f"/v1/listen-tokens/{created['id']}", headers=headers)).status_code == 404
    assert (await http.delete("/v1/listen-tokens/not-a-uuid", headers=headers)).status_code == 404
    await http.aclose()


async def test_listen_token_is_bound_to_its_channel(fake_server: RunningServer) -> None:
    _, headers = create_account(fake_server)
    async with httpx.AsyncClient(base_url=fake_server.base_url) as http:
        token = (await http.post("/v1/listen-tokens", headers=headers, json={})).json()["token"]
    async with _ws(fake_server, f"token={token}&channel=elsewhere") as listener:
        got = await collect(listener, any_close=True)
    assert got.events[0]["code"] == "invalid_channel" and got.close_code == 1008
    async with _ws(fake_server, f"token={token}&channel=obs") as listener:
        assert (await next_event(listener))["channel"] == "obs"


def test_listen_token_bad_requests(fake_server: RunningServer) -> None:
    _, headers = create_account(fake_server)
    url = f"{fake_server.base_url}/v1/listen-tokens"
    for body in ({"channel": "has space"}, {"channel": ""}, {"channel": "obs", "extra": 1}, {"label": "x" * 101}):
        resp = httpx.post(url, headers=headers, json=body)
        assert resp.status_code == 422 and resp.json()["error"]["code"], resp.text
    assert httpx.post(url, json={}).status_code == 401
    for _ in range(20):
        assert httpx.post(url, headers=headers, json={}).status_code == 201
    resp = httpx.post(url, headers=headers, json={})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "listen_token_limit_reached"


async def test_live_conversion_can_be_relayed_too(fake_server: RunningServer, samples_dir: Path) -> None:
    key, headers = create_account(fake_server)
    wav = espeak_wav(samples_dir / "relay-vc-ref.wav", REFERENCE_TEXT["pt-BR"])
    voice_id = str(upload_voice(fake_server, headers, wav)["id"])
    async with connect(fake_server, key, "/v1/tts/listen?channel=mic") as listener:
        await next_event(listener)
        start = {"voice_id": voice_id, "sample_rate": 16000, "broadcast": "mic"}
        converted = await vc_stream(fake_server, key, start, tone(180, 2.0, 16000), speed=2.0)
        heard = await _listen_until_source_ended(listener)
    assert converted.close_code == 1000 and converted.events[0]["listeners"] == 1
    assert heard.events[0]["kind"] == "vc" and heard.events[0]["sample_rate"] == 16000
    assert heard.events[0]["session_id"] == converted.events[0]["session_id"]
    assert len(converted.audio) > 16000 and bytes(heard.audio) == bytes(converted.audio)


async def test_one_speaker_per_channel_at_a_time(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    async with connect(fake_server, key) as first:
        await send(first, type="start", language="pt-BR", broadcast="solo")
        assert (await next_event(first))["type"] == "started"
        async with connect(fake_server, key) as second:
            await send(second, type="start", language="pt-BR", broadcast="solo")
            refused = await next_event(second)
            assert refused["type"] == "error" and refused["code"] == "channel_busy"
            await send(second, type="start", language="pt-BR", broadcast="other")  # the connection stays usable
            assert (await next_event(second))["type"] == "started"
    # The first speaker left without 'end': the channel is free again (the server notices the disconnect shortly).
    deadline = time.monotonic() + 30
    while True:
        started, _ = await _speak(fake_server, key, "Oi.", broadcast="solo")
        if started["type"] == "started":
            break
        if time.monotonic() > deadline:
            pytest.fail("the channel stayed busy after its speaker left")
        await asyncio.sleep(0.1)
    started, spoken = await _speak(fake_server, key, "De novo.", broadcast="solo")
    assert started["type"] == "started" and spoken.close_code == 1000
