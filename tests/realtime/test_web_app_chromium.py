"""The web app in a real headless Chromium against a real server: sign-up, log-out, log-in, buying through the
Mercado Pago emulator until the credits arrive, recording and uploading a voice from the (fake) microphone,
preview, speaking with download and history, the voice changer, and every page at phone size.

One server and one browser for the module; flows run in order in one logged-in browser context. Screenshots of
every page at 1280×800 and 390×844 go to $DUBLE_SCREENSHOT_DIR (default bench/out/screenshots)."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import REFERENCE_TEXT, espeak_wav
from tests.mp_emulator import MercadoPagoEmulator, run_emulator, send_webhook
from tests.realtime.chromium import CHROMIUM, chromium_flags, needs_chromium
from tests.servers import ROOT, RunningServer, run_server

pytestmark = needs_chromium

SECRET = "web-app-webhook-secret"
PASSWORD = "minha-senha-forte"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("DUBLE_SCREENSHOT_DIR", ROOT / "bench" / "out" / "screenshots"))


@pytest.fixture(scope="module")
def mp() -> Iterator[MercadoPagoEmulator]:
    with run_emulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory, mp: MercadoPagoEmulator) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_WEBRTC_ICE_ADDRESS": "127.0.0.1",
           "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5", "DUBLE_MERCADOPAGO_BASE_URL": mp.base_url,
           "DUBLE_MERCADOPAGO_ACCESS_TOKEN": mp.state.access_token, "DUBLE_MERCADOPAGO_WEBHOOK_SECRET": SECRET,
           "DUBLE_MERCADOPAGO_TIMEOUT_S": "5"}
    with run_server(tmp_path_factory.mktemp("web-app"), env) as srv:
        yield srv


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    mic = espeak_wav(tmp_path_factory.mktemp("mic") / "mic.wav", REFERENCE_TEXT["pt-BR"] + " " +
                     REFERENCE_TEXT["pt-BR"], "pt-BR")
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(mic))
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="module")
async def context(browser: Any) -> AsyncIterator[Any]:
    """The streamer's browser: one cookie jar for the whole module, so the flows run logged in, in order."""
    ctx = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
def account() -> dict[str, str]:
    return {"email": f"streamer{uuid.uuid4().hex[:8]}@exemplo.com.br"}


async def _shot(page: Any, name: str) -> None:
    """Screenshots at both sizes; at phone size the page must not scroll sideways."""
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        # Two animation frames: the resize has been laid out and painted before the picture.
        await page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        if label == "phone":
            width = await page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, f"{name} scrolls sideways at 390 px ({width} px)"
    await page.set_viewport_size(DESKTOP)


async def _no_english(page: Any) -> None:
    text = (await page.inner_text("main")).lower()
    for word in (" the ", "error", "loading", " credits", "voice ", " free", "unauthorized", "undefined"):
        assert word not in f" {text} ", f"English or raw text '{word.strip()}' on {page.url}"


async def test_signup_logout_login(app_server: RunningServer, context: Any, account: dict[str, str]) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}/")
    await _shot(page, "01-login")
    await page.fill("#signup-email", "sem-arroba")
    await page.fill("#signup-password", PASSWORD)
    await page.click("#signup-btn")
    await page.wait_for_function("document.getElementById('signup-msg').classList.contains('err')")
    assert "campos" in await page.text_content("#signup-msg")  # a sentence, not a regex

    await page.fill("#signup-email", account["email"])
    await page.click("#signup-btn")
    await page.wait_for_url("**/app")
    await page.wait_for_function("window.dash && (window.dash.ready || window.dash.error)")
    assert await page.evaluate("window.dash.error") is None
    assert await page.text_content("#balance") == "100,00"
    assert await page.text_content("#plan") == "Grátis"
    plans = await page.inner_text("#plans")
    assert "R$ 29,90" in plans and "R$ 99,90" in plans and "1.000 créditos" in plans
    assert "10,0 minutos de texto em voz" in await page.inner_text("#minutes")
    await _no_english(page)

    await page.click("#logout")
    await page.wait_for_url(f"{app_server.base_url}/")
    await page.goto(f"{app_server.base_url}/app")
    await page.wait_for_url("**/?next=%2Fapp")  # logged out: the dashboard sends you to log in
    await page.fill("#login-email", account["email"])
    await page.fill("#login-password", "senha-errada-1")
    await page.click("#login-btn")
    await page.wait_for_function("document.getElementById('login-msg').textContent.includes('errados')")
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_url("**/app")
    await page.wait_for_function("window.dash && window.dash.ready")

    await page.fill("#key-label", "bot do chat")
    await page.click("#key-create")
    await page.wait_for_function("document.getElementById('new-key').value.startsWith('dbl_')")
    key = await page.input_value("#new-key")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient() as client:
        me = (await client.get(f"{app_server.base_url}/v1/account", headers=headers)).json()
    assert me["email"] == account["email"]
    account["api_key"] = key
    await page.close()


async def test_buy_credits_through_mercado_pago(app_server: RunningServer, context: Any, mp: MercadoPagoEmulator,
                                                account: dict[str, str]) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}/app")
    await page.wait_for_function("window.dash && window.dash.ready")
    await page.click("button[data-plan=basic]")
    await page.wait_for_url(f"{mp.base_url}/checkout/**")
    pref_id = page.url.split("pref_id=")[1].split("&")[0]
    order = mp.preferences[pref_id]["external_reference"]

    payment_id = str(uuid.uuid4().int % 10**10)
    mp.set_payment(payment_id, "approved", order, 29.9)
    assert send_webhook(app_server.base_url, payment_id, SECRET).json()["status"] == "granted"
    await page.goto(f"{app_server.base_url}/app/payment?collection_status=approved&external_reference={order}"
                    f"&payment_id={payment_id}")
    await page.wait_for_function("window.pay && window.pay.outcome !== null", timeout=30000)
    assert await page.evaluate("window.pay.outcome") == "approved"
    assert await page.text_content("#balance") == "1.100,00"
    assert "aprovado" in await page.text_content("#result")
    await _shot(page, "03-payment-return")

    await page.goto(f"{app_server.base_url}/app")
    await page.wait_for_function("window.dash && window.dash.ready")
    rows = await page.inner_text("#payments")
    assert "Básico" in rows and "R$ 29,90" in rows and "aprovado" in rows
    assert await page.text_content("#plan") == "Básico"
    await page.close()


async def test_record_upload_and_preview_a_voice(app_server: RunningServer, context: Any) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}/voices?countdown=1")
    await page.wait_for_function("window.voicesPage !== undefined")
    await page.set_input_files("#vfile", files=[{"name": "nota.txt", "mimeType": "text/plain",
                                                 "buffer": b"isto nao e audio"}])
    await page.click("#upload")
    await page.wait_for_function("window.voicesPage.error !== null", timeout=30000)
    assert (await page.evaluate("window.voicesPage.error"))["code"] == "invalid_audio"
    assert "Não deu para ler este áudio" in await page.text_content("#up-msg")

    await page.click("#rec-start")
    await page.wait_for_function("window.voicesPage.recording && window.voicesPage.recSeconds >= 7", timeout=30000)
    level = await page.evaluate("document.getElementById('level').style.width")
    await page.click("#rec-stop")
    await page.wait_for_function("!window.voicesPage.recording && document.getElementById('vfile').files.length")
    assert not await page.is_hidden("#playback")  # playback before upload
    assert level not in ("", "0%")
    await page.fill("#vname", "Voz do microfone")
    await page.click("#upload")
    await page.wait_for_function("window.voicesPage.uploaded || window.voicesPage.error", timeout=60000)
    assert await page.evaluate("window.voicesPage.error") is None
    voice = await page.evaluate("window.voicesPage.uploaded")
    assert "Não deu" not in await page.text_content("#up-msg")  # the old error gave way to the success
    assert voice["name"] == "Voz do microfone" and 3.0 <= voice["duration_s"] <= 9.0
    await page.wait_for_selector(f"li[data-voice-id='{voice['id']}']")

    status = await page.evaluate(f"fetch('/v1/voices/{voice['id']}/audio').then(r => r.status)")
    assert status == 200  # the reference plays from the cookie-authenticated page
    await page.click(f"li[data-voice-id='{voice['id']}'] button.preview")
    await page.wait_for_function("window.voicesPage.previews === 1 || window.voicesPage.error", timeout=30000)
    assert await page.evaluate("window.voicesPage.error") is None
    assert await page.evaluate("window.voicesPage.previewBytes") > 0
    await _no_english(page)
    await _shot(page, "04-voices")
    await page.close()


async def test_studio_speaks_downloads_and_keeps_history(app_server: RunningServer, context: Any) -> None:
    page = await context.new_page()
    text = "Bom dia, chat! Hoje tem live nova."
    # A link alone may prefill but never speak: autostart without the key in the URL waits for a click.
    await page.goto(f"{app_server.base_url}/tts?text={text}&autostart=1&language=pt-BR")
    await page.wait_for_function("document.getElementById('credits').textContent !== ''")
    assert await page.evaluate("window.tts.state") == "idle"
    assert await page.input_value("#text") == text

    await page.click("#speak")
    await page.click("#end")
    await page.wait_for_function("window.tts.error || window.tts.saved === 1", timeout=60000)
    state = await page.evaluate("window.tts")
    assert state["error"] is None, state["error"]
    assert "ms" in await page.text_content("#ttfa")
    done = next(e for e in state["events"] if e["type"] == "done")
    async with page.expect_download() as dl:
        await page.click("#download")
    saved = await (await dl.value).path()
    with wave.open(io.BytesIO(await asyncio.to_thread(Path(saved).read_bytes))) as w:
        assert w.getframerate() == 24000
        assert abs(w.getnframes() / 24 - done["audio_ms"]) <= 1
    assert await page.locator("#history li").count() == 1
    assert text in await page.inner_text("#history")
    await page.reload()
    await page.wait_for_function("document.querySelectorAll('#history li button').length === 1")
    await _no_english(page)
    await _shot(page, "05-studio")
    await page.close()


async def test_voice_changer_with_the_fake_microphone(app_server: RunningServer, context: Any) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}/vc?muted=1")
    await page.wait_for_function("document.getElementById('voice').options.length > 0 && "
                                 "document.getElementById('voice').value !== ''")
    assert await page.locator("#mic option").count() >= 1
    await page.focus("#pitch")
    for _ in range(3):  # the slider, by keyboard
        await page.keyboard.press("ArrowRight")
    assert await page.text_content("#pitch-v") == "3"
    await page.check("#echo")
    await page.click("#go")
    await page.wait_for_function("window.vc.error || (window.vc.rms.length >= 20 && window.vc.latencyMs !== null)",
                                 timeout=40000)
    state = await page.evaluate("window.vc")
    assert state["error"] is None, state["error"]
    started = next(e for e in state["events"] if e["type"] == "started")
    assert started["session_id"]
    assert state["latencyMs"] > 0  # measured, so no upper bound here: this box is shared
    assert "ms" in await page.text_content("#latency")
    await _shot(page, "06-voice-changer")
    await page.click("#stop")
    await page.wait_for_function("window.vc.state === 'stopped'", timeout=10000)
    state = await page.evaluate("window.vc")
    assert state["error"] is None, state["error"]
    assert state["events"][-1]["type"] != "error"  # a normal hang-up: "end", then the server closes with 1000
    assert "Traceback" not in app_server.log()
    await page.close()


async def test_language_choice_is_remembered(app_server: RunningServer, context: Any) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}/app")
    await page.wait_for_function("window.dash && window.dash.ready")
    async with page.expect_navigation():
        await page.select_option("#lang-pick", "es")
    await page.wait_for_function("window.dash && window.dash.ready")
    assert await page.text_content("h1") == "Panel"
    assert "Comprar Básico" in await page.inner_text("#plans")
    await page.goto(f"{app_server.base_url}/voices")  # another page, same choice
    await page.wait_for_function("window.voicesPage !== undefined && document.querySelector('h1').textContent")
    assert await page.text_content("h1") == "Tus voces"
    await _shot(page, "10-voices-es")
    async with page.expect_navigation():
        await page.select_option("#lang-pick", "en")
    await page.wait_for_function("document.querySelector('h1').textContent !== ''")
    assert await page.text_content("h1") == "Your voices"
    async with page.expect_navigation():
        await page.select_option("#lang-pick", "pt-BR")
    await page.wait_for_function("document.querySelector('h1').textContent !== ''")
    assert await page.text_content("h1") == "Suas vozes"
    await page.close()


@pytest.mark.parametrize("path,name", [("/app", "02-dashboard"), ("/docs/protocol", "07-protocol"),
                                       ("/docs", "08-swagger"), ("/obs?channel=obs&status=1", "09-obs")])
async def test_other_pages_fit_a_phone(app_server: RunningServer, context: Any, path: str, name: str) -> None:
    page = await context.new_page()
    await page.goto(f"{app_server.base_url}{path}")
    await page.wait_for_load_state("networkidle")
    await _shot(page, name)
    await page.close()
