"""Links that try to act for a logged-in user (the session cookie in the browser), in a real headless Chromium
against a real server: a link only prefills; speaking, converting, paying or changing anything needs the user's click,
unless the link carries its own key (the owner's bookmark). Asserted on the server: its session counter, what a relay
listener on the victim's channel hears, the balance, /v1/usage, /v1/payments and what the ledger bills.

One server for the module, so its /metrics session counter counts only what these tests (run in order) opened."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav
from tests.realtime.chromium import CHROMIUM, chromium_flags, needs_chromium
from tests.realtime.ws_client import connect, next_event
from tests.servers import RunningServer, run_server

pytestmark = needs_chromium

ATTACK = "Texto do atacante, falado na live da vítima."
USER = "Texto que eu mesmo escolhi."
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def links_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_WEBRTC_ICE_ADDRESS": "127.0.0.1"}
    with run_server(tmp_path_factory.mktemp("web-links"), env) as srv:
        yield srv


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    mic = espeak_wav(tmp_path_factory.mktemp("mic") / "mic.wav", REFERENCE_TEXT["pt-BR"], "pt-BR")
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(mic))
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser profile per test; any request to another site is answered here, never by the network."""
    ctx = await browser.new_context()
    await ctx.route(f"{EVIL}/**", lambda route: route.fulfill(status=200, body="evil", content_type="text/plain"))
    try:
        yield ctx
    finally:
        await ctx.close()


class Watch:
    """Everything a page asks the server for that is not a plain read: WebSockets and non-GET requests."""

    def __init__(self, page: Any) -> None:
        self.sockets: list[str] = []
        self.writes: list[str] = []
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if request.method != "GET":
            self.writes.append(f"{request.method} {request.url}")


async def _log_in(context: Any, server: RunningServer) -> tuple[str, Any, Watch]:
    """A new account whose owner logged in on the home page with their key (the browser keeps only the session
    cookie), and a page watched from then on."""
    key, _ = create_account(server)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/")
    await page.click("summary")  # the key log-in sits folded under the e-mail forms
    await page.fill("#key", key)
    async with page.expect_navigation(url="**/app"):
        await page.click("#key-btn")
    cookies = {c["name"] for c in await context.cookies()}
    assert "duble_session" in cookies, cookies
    assert await page.evaluate("Object.keys(localStorage).filter((k) => /key/i.test(k))") == []
    return key, page, Watch(page)


async def _get(server: RunningServer, key: str, path: str) -> Any:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _credits(server: RunningServer, key: str) -> float:
    credits: float = (await _get(server, key, "/v1/account"))["credits"]
    return credits


async def _usage_seconds(server: RunningServer, key: str) -> float:
    seconds: float = (await _get(server, key, "/v1/usage"))["total"]["seconds"]
    return seconds


async def _sessions_opened(server: RunningServer) -> float:
    """Every WebSocket session the server ever opened (all kinds), from its Prometheus counter."""
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}/metrics")
    assert resp.status_code == 200, resp.text
    return sum(float(line.rsplit(" ", 1)[1]) for line in resp.text.splitlines()
               if line.startswith("duble_sessions_total{"))


async def _untouched(server: RunningServer, key: str, balance: float, sessions: float) -> None:
    assert await _credits(server, key) == balance
    assert await _usage_seconds(server, key) == 0
    assert (await _get(server, key, "/v1/payments"))["payments"] == []
    assert await _sessions_opened(server) == sessions


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


async def _tts_settled(page: Any) -> None:
    """The studio has loaded the account and the voices and acted on autostart (or said it waits for a click)."""
    await page.wait_for_function("window.tts.error !== null || document.getElementById('status').textContent !== ''"
                                 " && document.getElementById('voice').options.length > 0"
                                 " && document.getElementById('history').children.length > 0", timeout=30000)


async def test_a_link_without_a_key_only_prefills_until_the_user_clicks(links_server: RunningServer,
                                                                        context: Any) -> None:
    key, page, watch = await _log_in(context, links_server)
    balance, sessions = await _credits(links_server, key), await _sessions_opened(links_server)
    async with connect(links_server, key, "/v1/tts/listen?channel=obs") as obs:
        assert (await next_event(obs))["type"] == "listening"
        sessions += 1  # the listener itself

        attack = urlencode({"text": ATTACK, "autostart": 1, "channel": "obs", "local": 0, "language": "pt-BR"})
        await page.goto(f"{links_server.base_url}/tts?{attack}")
        await page.wait_for_function("document.getElementById('status').textContent === 'Clique em Falar para começar.'"
                                     " || window.tts.error !== null || window.tts.state !== 'idle'", timeout=30000)
        # Prefilled, not spoken: no stream opened, nothing billed, nothing changed.
        state = await page.evaluate("window.tts")
        assert state["error"] is None and state["events"] == [] and state["state"] == "idle", state
        assert await page.input_value("#text") == ATTACK and await page.input_value("#channel") == "obs"
        assert watch.sockets == [] and watch.writes == [], (watch.sockets, watch.writes)
        await _untouched(links_server, key, balance, sessions)

        # The user reads the box, writes their own text and clicks: only that is spoken, to OBS, and billed.
        await page.fill("#text", USER)
        await page.click("#speak")
        await page.click("#end")
        await page.wait_for_function("window.tts.error !== null || window.tts.state === 'done'", timeout=60000)
        spoke = await page.evaluate("window.tts")
        assert spoke["error"] is None, spoke["error"]
        heard = await _heard_until_source_ended(obs)

    assert [url for url in watch.sockets if "/v1/tts/stream" in url] != []  # the watch does see a stream
    started = next(e for e in spoke["events"] if e["type"] == "started")
    assert [e["type"] for e in heard][0] == "source_started" and heard[0]["session_id"] == started["session_id"]
    assert [e["text"] for e in heard if e["type"] == "segment"] == [USER]
    audio_ms = next(e for e in spoke["events"] if e["type"] == "done")["audio_ms"]
    billed_s = await _wait_usage_settled(links_server, key, audio_ms / 1000)
    assert billed_s == pytest.approx(audio_ms / 1000, abs=0.01)
    assert await _credits(links_server, key) < balance


async def test_a_bookmark_with_its_own_key_still_speaks_on_load(links_server: RunningServer, context: Any) -> None:
    key, _ = create_account(links_server)
    page = await context.new_page()  # no session cookie: the key in the URL is the only credential
    async with connect(links_server, key, "/v1/tts/listen?channel=obs") as obs:
        assert (await next_event(obs))["type"] == "listening"
        bookmark = urlencode({"api_key": key, "text": USER, "autostart": 1, "channel": "obs", "local": 0,
                              "language": "pt-BR"})
        await page.goto(f"{links_server.base_url}/tts?{bookmark}")
        await page.wait_for_function("window.tts.error !== null || window.tts.state === 'done'", timeout=60000)
        state = await page.evaluate("window.tts")
        assert state["error"] is None, state["error"]
        heard = await _heard_until_source_ended(obs)
    assert [e["text"] for e in heard if e["type"] == "segment"] == [USER]
    audio_ms = next(e for e in state["events"] if e["type"] == "done")["audio_ms"]
    assert await _wait_usage_settled(links_server, key, audio_ms / 1000) == pytest.approx(audio_ms / 1000, abs=0.01)


async def test_a_key_in_a_link_never_replaces_the_session(links_server: RunningServer, context: Any) -> None:
    key, page, _ = await _log_in(context, links_server)
    attacker_key, _ = create_account(links_server)
    me = (await _get(links_server, key, "/v1/account"))["account_id"]
    # The attacker's own key in a link: the page may use it, but the browser stays logged in as its owner (the
    # victim's next recording must not land in the attacker's account).
    await page.goto(f"{links_server.base_url}/tts?api_key={attacker_key}")
    await _tts_settled(page)
    await page.goto(f"{links_server.base_url}/vc?api_key={attacker_key}")
    await page.wait_for_function("document.getElementById('status').textContent !== '' || window.vc.error !== null")
    session = await page.evaluate("fetch('/v1/auth/session').then((r) => r.json())")
    assert session["account_id"] == me, session
    assert await page.evaluate("Object.keys(localStorage).filter((k) => /key/i.test(k))") == []


async def test_a_vc_link_without_a_key_does_not_open_the_microphone(links_server: RunningServer,
                                                                   context: Any) -> None:
    key, page, watch = await _log_in(context, links_server)
    balance, sessions = await _credits(links_server, key), await _sessions_opened(links_server)
    await page.goto(f"{links_server.base_url}/vc?autostart=1&channel=obs&muted=1")
    await page.wait_for_function("document.getElementById('status').textContent === 'Clique em Começar.'"
                                 " || window.vc.error !== null || window.vc.state !== 'idle'", timeout=30000)
    state = await page.evaluate("window.vc")
    assert state["error"] is None and state["state"] == "idle" and state["events"] == [], state
    assert await page.input_value("#channel") == "obs"
    assert watch.sockets == [] and watch.writes == [], (watch.sockets, watch.writes)
    await _untouched(links_server, key, balance, sessions)
    # The same page does open the signalling socket on a click: the watch above would have seen it.
    async with page.expect_websocket(lambda ws: "/v1/webrtc/signal" in ws.url, timeout=30000):
        await page.click("#go")
    await page.close()


async def _settled(page: Any, path: str) -> None:
    """Each page's own sign that it has loaded what it shows (and so acted on its URL, if it ever would)."""
    ready = {
        "/app": "window.dash && (window.dash.ready || window.dash.error)",
        "/app/payment": "document.getElementById('balance').textContent !== ''",
        "/voices": "document.getElementById('voices').children.length > 0 || window.voicesPage.error !== null",
        "/obs": "window.obs.state !== 'connecting' || window.obs.error !== null",
        "/docs": "document.querySelector('.swagger-ui .info') !== null",
    }
    if path == "/":  # logged in, the home page forwards to ?next= by itself
        await page.wait_for_url("**/tts?**", timeout=30000)
        await _tts_settled(page)
        return
    await page.wait_for_function(ready[path], timeout=30000)


@pytest.mark.parametrize("path, query", [
    ("/app", {"plan": "pro", "checkout": "1", "buy": "pro", "autostart": "1"}),
    ("/app/payment", {"status": "approved", "collection_status": "approved", "external_reference": "ord_forjado",
                      "payment_id": "123", "plan": "pro"}),
    ("/voices", {"autostart": "1", "record": "1", "upload": "1", "countdown": "0", "delete": "1", "name": "x"}),
    ("/obs", {"channel": "obs", "autostart": "1", "status": "1"}),
    ("/docs", {"autostart": "1", "api_key": "dbl_forjada"}),
    ("/", {"next": f"/tts?{urlencode({'text': ATTACK, 'autostart': 1, 'channel': 'obs', 'local': 0})}"}),
])
async def test_no_other_page_acts_on_its_url_alone(links_server: RunningServer, context: Any, path: str,
                                                    query: dict[str, str]) -> None:
    key, page, watch = await _log_in(context, links_server)
    balance, sessions = await _credits(links_server, key), await _sessions_opened(links_server)
    await page.goto(f"{links_server.base_url}{path}?{urlencode(query)}")
    await _settled(page, path)
    if path == "/app/payment":
        # The return URL is only a hint: a forged "approved" grants nothing and is not shown as paid.
        assert await page.evaluate("window.pay.outcome") is None
        assert await page.text_content("#result") != "Pagamento aprovado! Os créditos já estão na sua conta."
    if path == "/":
        assert await page.input_value("#text") == ATTACK
        assert (await page.evaluate("window.tts"))["events"] == []
    if path == "/obs":
        # The OBS source listens with what the URL gives it (here nothing); it never speaks and never bills.
        assert all("/v1/tts/stream" not in url for url in watch.sockets), watch.sockets
        sessions = await _sessions_opened(links_server)
    else:
        assert watch.sockets == [], watch.sockets
    assert watch.writes == [], watch.writes
    await _untouched(links_server, key, balance, sessions)
    if path == "/app":
        # A click does send a change, and the watch above sees it.
        async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/api-keys")):
            await page.click("#key-create")
        assert [w for w in watch.writes if w.startswith("POST ") and w.endswith("/v1/api-keys")], watch.writes


async def test_the_login_page_redirects_only_within_the_site(links_server: RunningServer, context: Any) -> None:
    key, page, _ = await _log_in(context, links_server)
    # Already logged in: the home page forwards to ?next= at once, with no click; "/\\host" is another site to a
    # browser, so it must be refused like "//host".
    for forged in ("//evil.example/x", "/\\evil.example/x", "/\t/evil.example/x", "http://evil.example/x"):
        async with page.expect_navigation():
            await page.goto(f"{links_server.base_url}/?{urlencode({'next': forged})}")
        await page.wait_for_url(lambda url: not url.startswith(f"{links_server.base_url}/?"), timeout=30000)
        assert page.url.startswith(links_server.base_url + "/"), (forged, page.url)
    # A path on this site is still followed.
    await page.goto(f"{links_server.base_url}/?{urlencode({'next': '/voices?x=1'})}")
    await page.wait_for_url(f"{links_server.base_url}/voices?x=1", timeout=30000)
    del key
