"""Links that try to act for a logged-in user (a saved API key in the browser), in a real headless Chromium against
a real server: a link only prefills; speaking, converting or spending needs the user's click, unless the link carries
its own key (the owner's bookmark). Asserted on the server: what a relay listener on the victim's channel hears and
what the ledger bills."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav
from tests.realtime.chromium import CHROMIUM, chromium_flags, needs_chromium
from tests.realtime.ws_client import connect, next_event
from tests.servers import RunningServer

pytestmark = needs_chromium

ATTACK = "Texto do atacante, falado na live da vítima."
USER = "Texto que eu mesmo escolhi."


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    mic = espeak_wav(tmp_path / "mic.wav", REFERENCE_TEXT["pt-BR"], "pt-BR")
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(mic))
        try:
            yield chromium
        finally:
            await chromium.close()


async def _logged_in_page(browser: Any, server: RunningServer, key: str, path: str = "/tts") -> tuple[Any, list[str]]:
    """A page on which the user typed their key once and loaded their voices (the browser remembers the key), and
    the URLs of every WebSocket it opens from then on."""
    page = await browser.new_page()
    await page.goto(f"{server.base_url}{path}")
    await page.fill("#key", key)
    await page.click("#load")
    await page.wait_for_function("localStorage.getItem('duble_api_key') !== null")
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    return page, sockets


async def _credits(server: RunningServer, key: str) -> float:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}/v1/account", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    credits: float = resp.json()["credits"]
    return credits


async def _usage_seconds(server: RunningServer, key: str) -> float:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}/v1/usage", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    seconds: float = resp.json()["total"]["seconds"]
    return seconds


async def _wait_usage_settled(server: RunningServer, key: str, seconds: float, timeout_s: float = 30) -> float:
    """Usage settles at session end; poll the ledger until it shows at least ``seconds``."""
    deadline = time.monotonic() + timeout_s
    while (got := await _usage_seconds(server, key)) < seconds:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return got


async def _heard_until_source_ended(listener: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def loop() -> None:
        async for msg in listener:
            if isinstance(msg, str):
                events.append(json.loads(msg))
                if events[-1]["type"] == "source_ended":
                    return

    await asyncio.wait_for(loop(), timeout=timeout_s)
    return events


async def test_a_link_without_a_key_only_prefills_until_the_user_clicks(fake_server: RunningServer,
                                                                        browser: Any) -> None:
    key, _ = create_account(fake_server)
    page, sockets = await _logged_in_page(browser, fake_server, key)
    balance = await _credits(fake_server, key)
    async with connect(fake_server, key, "/v1/tts/listen?channel=obs") as obs:
        assert (await next_event(obs))["type"] == "listening"

        attack = urlencode({"text": ATTACK, "autostart": 1, "channel": "obs", "local": 0, "language": "pt-BR"})
        await page.goto(f"{fake_server.base_url}/tts?{attack}")
        await page.wait_for_function("window.tts.ready === true")
        # Prefilled, not spoken: nothing was billed, no stream was opened.
        assert await _credits(fake_server, key) == balance and await _usage_seconds(fake_server, key) == 0
        assert await page.input_value("#text") == ATTACK and await page.input_value("#channel") == "obs"
        assert not [url for url in sockets if "/v1/tts/stream" in url], sockets
        state = await page.evaluate("window.tts")
        assert state["events"] == [] and state["state"] == "idle", state

        # The user reads the box, writes their own text and clicks: only that is spoken, to OBS, and billed.
        await page.fill("#text", USER)
        await page.click("#speak")
        await page.click("#end")
        await page.wait_for_function("window.tts.error !== null || window.tts.state === 'done'", timeout=60000)
        spoke = await page.evaluate("window.tts")
        assert spoke["error"] is None, spoke["error"]
        heard = await _heard_until_source_ended(obs)

    started = next(e for e in spoke["events"] if e["type"] == "started")
    assert [e["type"] for e in heard][0] == "source_started" and heard[0]["session_id"] == started["session_id"]
    assert [e["text"] for e in heard if e["type"] == "segment"] == [USER]
    audio_ms = next(e for e in spoke["events"] if e["type"] == "done")["audio_ms"]
    billed_s = await _wait_usage_settled(fake_server, key, audio_ms / 1000)
    assert billed_s == pytest.approx(audio_ms / 1000, abs=0.01)
    assert await _credits(fake_server, key) < balance


async def test_a_bookmark_with_its_own_key_still_speaks_on_load(fake_server: RunningServer, browser: Any) -> None:
    key, _ = create_account(fake_server)
    page = await browser.new_page()
    async with connect(fake_server, key, "/v1/tts/listen?channel=obs") as obs:
        assert (await next_event(obs))["type"] == "listening"
        bookmark = urlencode({"api_key": key, "text": USER, "autostart": 1, "channel": "obs", "local": 0,
                              "language": "pt-BR"})
        await page.goto(f"{fake_server.base_url}/tts?{bookmark}")
        await page.wait_for_function("window.tts.error !== null || window.tts.state === 'done'", timeout=60000)
        state = await page.evaluate("window.tts")
        assert state["error"] is None, state["error"]
        heard = await _heard_until_source_ended(obs)
    assert [e["text"] for e in heard if e["type"] == "segment"] == [USER]


async def test_a_key_in_a_link_never_replaces_the_saved_key(fake_server: RunningServer, browser: Any) -> None:
    key, _ = create_account(fake_server)
    attacker_key, _ = create_account(fake_server)
    page, _ = await _logged_in_page(browser, fake_server, key)
    # The attacker's own key in a link: the page may use it, but must not make this browser remember it (the
    # victim's next recording would land in the attacker's account).
    await page.goto(f"{fake_server.base_url}/tts?api_key={attacker_key}")
    await page.wait_for_function("window.tts.ready === true")
    assert await page.evaluate("localStorage.getItem('duble_api_key')") == key
    await page.goto(f"{fake_server.base_url}/vc?api_key={attacker_key}")
    await page.wait_for_function("window.vc.ready === true")
    assert await page.evaluate("localStorage.getItem('duble_api_key')") == key
    await page.goto(f"{fake_server.base_url}/tts")
    await page.wait_for_function("window.tts.ready === true")
    assert await page.input_value("#key") == key


async def test_a_vc_link_without_a_key_does_not_open_the_microphone(fake_server: RunningServer,
                                                                   browser: Any) -> None:
    key, _ = create_account(fake_server)
    page, sockets = await _logged_in_page(browser, fake_server, key, "/vc")
    balance = await _credits(fake_server, key)
    await page.goto(f"{fake_server.base_url}/vc?autostart=1&channel=obs&muted=1")
    await page.wait_for_function("window.vc.ready === true")
    state = await page.evaluate("window.vc")
    assert state["state"] == "idle" and state["events"] == [], state
    assert not [url for url in sockets if "/v1/webrtc/signal" in url], sockets
    assert await page.input_value("#channel") == "obs"
    assert await _credits(fake_server, key) == balance and await _usage_seconds(fake_server, key) == 0
