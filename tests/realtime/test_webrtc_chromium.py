"""A real Chromium (Debian's, headless, fake microphone from a WAV) as the WebRTC peer of /vc: it must receive
converted audio. ICE stays on 127.0.0.1: the server gathers and accepts loopback candidates only, and Chromium
does not publish mDNS names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.realtime.chromium import CHROMIUM, chromium_flags, needs_chromium
from tests.realtime.vc_support import VCSetup, start_vc_server, tone

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def vc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCSetup]:
    yield from start_vc_server(tmp_path_factory.mktemp("chromium"))


async def test_chromium_peer_receives_converted_audio(vc: VCSetup, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    wav = tmp_path / "mic.wav"
    soundfile.write(wav, tone(200, 6.0, 48000), 48000, subtype="PCM_16")
    url = f"{vc.server.base_url}/vc?api_key={vc.api_key}&voice_id={vc.voice_id}&pitch_shift=5&autostart=1&muted=1"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(wav))
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for_function("window.vc.error !== null || window.vc.rms.length >= 20", timeout=30000)
            state = await page.evaluate("window.vc")
        finally:
            await browser.close()
    assert state["error"] is None, state["error"]
    events = [e["type"] for e in state["events"]]
    assert events[:2] == ["started", "answer"]
    # Converted audio arrives: the last second is clearly not silence.
    assert np.median(state["rms"][-10:]) > 0.01, state["rms"]


async def test_converted_voice_reaches_an_obs_source(vc: VCSetup, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    wav = tmp_path / "mic.wav"
    soundfile.write(wav, tone(200, 6.0, 48000), 48000, subtype="PCM_16")
    base = vc.server.base_url
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(wav))
        try:
            obs = await browser.new_page()
            await obs.goto(f"{base}/obs?api_key={vc.api_key}&channel=palco")
            await obs.wait_for_function("window.obs.state === 'listening'", timeout=20000)
            mic = await browser.new_page()
            await mic.goto(f"{base}/vc?api_key={vc.api_key}&voice_id={vc.voice_id}&channel=palco&autostart=1&muted=1")
            await obs.wait_for_function("window.obs.error !== null || window.obs.playedMs >= 2000", timeout=30000)
            heard = await obs.evaluate("window.obs")
            talked = await mic.evaluate("window.vc")
        finally:
            await browser.close()
    assert heard["error"] is None and talked["error"] is None, (heard["error"], talked["error"])
    started = next(e for e in talked["events"] if e["type"] == "started")
    assert started["listeners"] == 1
    source = heard["events"][1]
    assert source["type"] == "source_started" and source["kind"] == "vc" and source["sample_rate"] == 48000
    assert heard["peakRms"] > 0.01
