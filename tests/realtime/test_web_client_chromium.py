"""The studio (/tts) in a real headless Chromium against a real server, opened with the API key in the URL (a
program's or the owner's bookmark): speech played through Web Audio while it is generated, live typing, OBS relay.
Recording a voice in the browser is tested with the voices page in test_web_app_chromium.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime.chromium import CHROMIUM, chromium_flags, needs_chromium
from tests.servers import RunningServer

pytestmark = needs_chromium

THREE_SENTENCES = "Bom dia a todos. Hoje a live vai ser longa. Fiquem até o final, por favor."
LIVE_TEXT = "Primeira frase curta. A segunda frase chega bem depois, enquanto ainda estou digitando "


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags())
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()  # its own storage: no session or history from another test
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _open_tts(page: Any, server: RunningServer, query: str) -> None:
    """/tts with these query parameters, once it has loaded the account (its credits show)."""
    await page.goto(f"{server.base_url}/tts?{query}")
    await page.wait_for_function("document.getElementById('credits').textContent !== ''")


async def _state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate("window.tts")
    return state


async def _wait_done_and_played(page: Any) -> dict[str, Any]:
    await page.wait_for_function(
        "window.tts.error !== null || (window.tts.state === 'done' && "
        "window.tts.playedMs >= window.tts.events.find(e => e.type === 'done').audio_ms - 5)", timeout=60000)
    state = await _state(page)
    assert state["error"] is None, state["error"]
    return state


async def test_speaks_in_a_cloned_voice_as_it_is_generated(server: RunningServer, page: Any, tmp_path: Path) -> None:
    key, headers = create_account(server)
    voice = upload_voice(server, headers, espeak_wav(tmp_path / "ref.wav", REFERENCE_TEXT["pt-BR"]),
                         name="minha voz")
    await _open_tts(page, server, f"api_key={key}&voice_id={voice['id']}")
    assert await page.input_value("#voice") == voice["id"]

    await page.fill("#text", THREE_SENTENCES)
    await page.click("#speak")
    await page.click("#end")
    state = await _wait_done_and_played(page)

    events = state["events"]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    segments = [e for e in events if e["type"] == "segment"]
    assert " ".join(s["text"] for s in segments) == THREE_SENTENCES
    done = events[-1]
    # Every byte was turned into played samples, and the page heard real sound.
    assert abs(state["audioBytes"] / 2 / 24 - done["audio_ms"]) <= 1  # 16-bit samples at 24 kHz
    assert state["playedMs"] == pytest.approx(done["audio_ms"], abs=5)
    assert state["peakRms"] > 0.02
    # Streaming, not batch: sound reached the page before the last sentence had been synthesized.
    assert state["firstAudioMs"] < segments[-1]["at_ms"]


async def test_live_typing_speaks_before_the_text_is_finished(server: RunningServer, page: Any) -> None:
    key, _ = create_account(server)
    await _open_tts(page, server, f"api_key={key}&live=1&language=pt-BR")
    await page.click("#text")
    await page.keyboard.type(LIVE_TEXT, delay=40)
    state = await _state(page)
    assert state["error"] is None, state["error"]
    assert state["chunks"] > 0, "no audio while the user was still typing"
    await page.keyboard.press("Enter")
    await page.click("#end")
    state = await _wait_done_and_played(page)
    segments = [e["text"] for e in state["events"] if e["type"] == "segment"]
    assert " ".join(segments) == LIVE_TEXT.strip()
    assert await page.input_value("#text") == LIVE_TEXT + "\n"


async def test_a_wrong_key_is_reported_on_the_page(server: RunningServer, page: Any) -> None:
    await page.goto(f"{server.base_url}/tts?api_key=wrong")
    await page.wait_for_function("window.tts.error !== null")
    state = await _state(page)
    assert state["error"]["code"] == "unauthorized"
    assert "unauthorized" in await page.text_content("#log")


async def test_obs_source_plays_and_captions_what_the_control_page_speaks(server: RunningServer, browser: Any) -> None:
    key, _ = create_account(server)
    control = await browser.new_page()
    await _open_tts(control, server, f"api_key={key}&language=pt-BR")
    await control.fill("#channel", "stage")
    await control.click("#obsurl")
    await control.wait_for_function("window.tts.error !== null || window.tts.obsUrl !== null")
    obs_url = await control.input_value("#obslink")
    assert obs_url.startswith(f"{server.base_url}/obs?token=lst_") and key not in obs_url

    obs = await browser.new_page()
    await obs.goto(obs_url + "&status=1")
    await obs.wait_for_function("window.obs.state === 'listening'", timeout=20000)
    await control.uncheck("#local")
    await control.fill("#text", THREE_SENTENCES)
    await control.click("#speak")
    await control.click("#end")
    await control.wait_for_function("window.tts.error !== null || window.tts.state === 'done'", timeout=60000)
    spoke = await _state(control)
    assert spoke["error"] is None, spoke["error"]
    assert spoke["listeners"] == 1
    assert spoke["audioBytes"] > 0 and spoke["playedMs"] == 0  # "tocar aqui também" was off
    audio_ms = next(e for e in spoke["events"] if e["type"] == "done")["audio_ms"]

    await obs.wait_for_function(f"window.obs.playedMs >= {audio_ms - 5}", timeout=30000)
    heard = await obs.evaluate("window.obs")
    assert heard["error"] is None and heard["reconnects"] == 0
    assert heard["audioBytes"] == spoke["audioBytes"]
    assert heard["peakRms"] > 0.02
    captions = [e["text"] for e in heard["events"] if e["type"] == "segment"]
    assert " ".join(captions) == THREE_SENTENCES
    # Each caption appears when its sentence is heard, not when it was synthesized (well ahead of playback).
    shown = heard["captions"]
    assert [c["text"] for c in shown] == captions
    for a, b in zip(shown, shown[1:], strict=False):
        heard_gap_s, audio_gap_s = b["shown_s"] - a["shown_s"], (b["start_ms"] - a["start_ms"]) / 1000
        assert audio_gap_s > 0.8 and abs(heard_gap_s - audio_gap_s) < 0.3, shown
    assert await obs.text_content("#caption") == captions[-1]
    assert [e["type"] for e in heard["events"]][-1] == "source_ended"


async def test_changing_a_setting_starts_a_new_session(server: RunningServer, page: Any) -> None:
    key, _ = create_account(server)
    await _open_tts(page, server, f"api_key={key}&language=pt-BR")
    await page.fill("#text", "Primeira sessão.")
    await page.click("#speak")
    await page.wait_for_function("window.tts.events.some(e => e.type === 'segment')", timeout=30000)
    await page.evaluate("document.getElementById('pitch').value = '5'")  # a range slider: set, then commit
    await page.dispatch_event("#pitch", "change")
    await page.wait_for_function("window.tts.state === 'done'", timeout=30000)
    await page.fill("#text", "Segunda sessão, mais aguda.")
    await page.click("#speak")
    await page.click("#end")
    await page.wait_for_function("window.tts.events.filter(e => e.type === 'done').length === 2", timeout=30000)
    state = await _state(page)
    assert state["error"] is None, state["error"]
    started = [e for e in state["events"] if e["type"] == "started"]
    assert len(started) == 2 and started[0]["session_id"] != started[1]["session_id"]
    assert [e["text"] for e in state["events"] if e["type"] == "segment"] == ["Primeira sessão.",
                                                                               "Segunda sessão, mais aguda."]
