"""Hostile WebRTC signalling against a real server: malformed offers and candidates, calls that never connect,
peers that send no audio. Each answer is a specific ``error`` event (or a close code), never a 1006 or a traceback,
and a call that carried no audio leaves no open billing session and no charge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime.test_webrtc_support import (
    assert_no_open_billing,
    connect,
    offer_sdp,
    recv_event,
    wait_closed,
)
from tests.servers import RunningServer, run_server

ZERO_VOICE = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Rig:
    server: RunningServer
    key: str
    voice_id: str
    wav: Path


def _rig(tmp: Path, env: dict[str, str]) -> Iterator[Rig]:
    base = {"DUBLE_WEBRTC_ICE_ADDRESS": "127.0.0.1", "DUBLE_TTS_ENGINE": "fake", **env}
    with run_server(tmp, base) as srv:
        key, headers = create_account(srv)
        wav = espeak_wav(tmp / "ref.wav", REFERENCE_TEXT["pt-BR"])
        voice_id = str(upload_voice(srv, headers, wav, name="w")["id"])
        yield Rig(srv, key, voice_id, wav)


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Long deadlines: nothing times out while a malformed-input test runs."""
    yield from _rig(tmp_path_factory.mktemp("rtc-hostile"), {"DUBLE_WEBRTC_IDLE_TIMEOUT_S": "600",
                                                             "DUBLE_WEBRTC_CONNECT_TIMEOUT_S": "300"})


@pytest.fixture(scope="module")
def hasty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Short connect and media deadlines (the offer still has all the time it needs)."""
    yield from _rig(tmp_path_factory.mktemp("rtc-hasty"), {"DUBLE_WEBRTC_IDLE_TIMEOUT_S": "600",
                                                           "DUBLE_WEBRTC_CONNECT_TIMEOUT_S": "2",
                                                           "DUBLE_WEBRTC_MEDIA_TIMEOUT_S": "2"})


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    yield from _rig(tmp_path_factory.mktemp("rtc-idle"), {"DUBLE_WEBRTC_IDLE_TIMEOUT_S": "2"})


def _without_candidates(sdp: str) -> str:
    return "\r\n".join(ln for ln in sdp.split("\r\n")
                       if not ln.startswith(("a=candidate:", "a=end-of-candidates")))


def _replace_line(sdp: str, prefix: str, new: str) -> str:
    return "\r\n".join(new if ln.startswith(prefix) else ln for ln in sdp.split("\r\n"))


def _many_m_lines(sdp: str, n: int) -> str:
    session = sdp[: sdp.index("m=")]
    return session + "".join(f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\n"
                             for i in range(n))


def _huge(sdp: str, size: int) -> str:
    pad = "a=x-pad:" + "p" * 1000 + "\r\n"
    return sdp + pad * (size // len(pad))


def _bad_offers(good: str, video_only: str, audio_video: str) -> dict[str, tuple[Any, str]]:
    """Offer payloads (the ``sdp`` field) and the error each must get."""
    return {
        "video_only": (video_only, "invalid_offer"),
        "audio_and_video": (audio_video, "invalid_offer"),
        "200_m_lines": (_many_m_lines(good, 200), "invalid_offer"),
        "no_m_line": (good[: good.index("m=")], "invalid_offer"),
        "900_kb": (_huge(good, 900 * 1024), "sdp_too_large"),
        "not_sdp": ("this is not sdp", "invalid_sdp"),
        "nul_in_sdp": (good.replace("a=mid:0", "a=mid:0\x00x", 1), "invalid_sdp"),
        "sdp_not_a_string": (5, "invalid_message"),
        "candidate_zzz_in_sdp": (_replace_line(good, "a=candidate:", "a=candidate:zzz"), "invalid_candidate"),
        "candidate_port_in_sdp": (_replace_line(good, "a=candidate:",
                                                "a=candidate:1 1 udp 1 127.0.0.1 99999999 typ host"),
                                  "invalid_candidate"),
        "no_ice_credentials": (_replace_line(_replace_line(good, "a=ice-ufrag:", "a=x-a:1"), "a=ice-pwd:",
                                             "a=x-b:1"), "invalid_offer"),
        "no_fingerprint": (_replace_line(good, "a=fingerprint:", "a=x-c:1"), "invalid_offer"),
    }


BAD_CANDIDATES: dict[str, tuple[dict[str, Any], str]] = {
    "zzz": ({"candidate": "zzz", "sdpMLineIndex": 0}, "invalid_candidate"),
    "port_99999999": ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 99999999 typ host", "sdpMid": "0"},
                      "invalid_candidate"),
    "number_5": ({"candidate": 5, "sdpMid": "0"}, "invalid_candidate"),
    "string_5": ({"candidate": "5", "sdpMid": "0"}, "invalid_candidate"),
    "address_999": ({"candidate": "candidate:1 1 udp 2130706431 999.1.1.1 5000 typ host", "sdpMid": "0"},
                    "invalid_candidate"),
    "component_0": ({"candidate": "candidate:1 0 udp 2130706431 127.0.0.1 5000 typ host", "sdpMid": "0"},
                    "invalid_candidate"),
    "transport_sctp": ({"candidate": "candidate:1 1 sctp 2130706431 127.0.0.1 5000 typ host", "sdpMid": "0"},
                       "invalid_candidate"),
    "type_bogus": ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ bogus", "sdpMid": "0"},
                   "invalid_candidate"),
    "m_line_3": ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "sdpMLineIndex": 3},
                 "invalid_candidate"),
    "no_mid_nor_index": ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
                         "invalid_candidate"),
}


async def _special_offers() -> tuple[str, str]:
    video = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    both = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        video.addTransceiver("video")
        both.addTrack(AudioStreamTrack())
        both.addTransceiver("video")
        for pc in (video, both):
            await pc.setLocalDescription(await pc.createOffer())
        return video.localDescription.sdp, both.localDescription.sdp
    finally:
        await video.close()
        await both.close()


async def _started(rig: Rig, ws: Any) -> None:
    await ws.send(json.dumps({"type": "start", "voice_id": rig.voice_id}))
    event = await recv_event(ws)
    assert event["type"] == "started", event


def _new_log(rig: Rig, offset: int) -> str:
    return rig.server.log()[offset:]


async def test_malformed_offers_get_an_error_and_the_call_stays_usable(patient: Rig) -> None:
    good = await offer_sdp()
    offers = _bad_offers(good, *await _special_offers())
    for name, (sdp, code) in offers.items():
        offset = len(patient.server.log())
        async with connect(patient.server, patient.key) as ws:
            await _started(patient, ws)
            await ws.send(json.dumps({"type": "offer", "sdp": sdp}))
            event = await recv_event(ws)
            assert (event["type"], event.get("code")) == ("error", code), (name, event)
            # The same socket still takes a good offer.
            await ws.send(json.dumps({"type": "offer", "sdp": good}))
            assert (await recv_event(ws))["type"] == "answer", name
            await ws.send(json.dumps({"type": "end"}))
            assert await wait_closed(ws) == 1000, name
        log = _new_log(patient, offset)
        assert "Traceback" not in log and "Exception in ASGI" not in log, (name, log[-3000:])


async def test_malformed_candidates_get_an_error_and_the_call_stays_usable(patient: Rig) -> None:
    good = await offer_sdp()
    for name, (fields, code) in BAD_CANDIDATES.items():
        offset = len(patient.server.log())
        async with connect(patient.server, patient.key) as ws:
            await _started(patient, ws)
            await ws.send(json.dumps({"type": "offer", "sdp": good}))
            assert (await recv_event(ws))["type"] == "answer"
            await ws.send(json.dumps({"type": "candidate", **fields}))
            event = await recv_event(ws, skip=("stats",))
            assert (event["type"], event.get("code")) == ("error", code), (name, event)
            # A well-formed candidate is still taken (no error comes back for it), then the call ends normally.
            await ws.send(json.dumps({"type": "candidate", "sdpMid": "0",
                                      "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"}))
            await ws.send(json.dumps({"type": "nonsense"}))
            assert (await recv_event(ws, skip=("stats",))).get("code") == "unknown_type", name
            await ws.send(json.dumps({"type": "end"}))
            assert await wait_closed(ws) == 1000, name
        log = _new_log(patient, offset)
        assert "Traceback" not in log and "Exception in ASGI" not in log, (name, log[-3000:])


async def test_signalling_out_of_order_and_binary(patient: Rig) -> None:
    good = await offer_sdp()
    offset = len(patient.server.log())
    async with connect(patient.server, patient.key) as ws:
        await ws.send(b"\x00\x01")
        assert (await recv_event(ws))["code"] == "unexpected_binary"
        await ws.send(json.dumps({"type": "offer", "sdp": good}))
        assert (await recv_event(ws))["code"] == "not_started"
        await ws.send(json.dumps({"type": "start", "voice_id": ZERO_VOICE}))
        assert (await recv_event(ws))["code"] == "voice_not_found"
        await _started(patient, ws)
        await ws.send(json.dumps({"type": "candidate", "candidate": "zzz"}))
        assert (await recv_event(ws))["code"] == "not_connected"
        await ws.send(json.dumps({"type": "offer", "sdp": good}))
        assert (await recv_event(ws))["type"] == "answer"
        await ws.send(json.dumps({"type": "offer", "sdp": good}))
        assert (await recv_event(ws, skip=("stats",)))["code"] == "already_connected"
    assert "Traceback" not in _new_log(patient, offset)


async def _fresh_account(rig: Rig) -> tuple[str, str]:
    key, headers = create_account(rig.server)
    voice = upload_voice(rig.server, headers, rig.wav, name="w")
    return key, str(voice["id"])


async def test_call_that_never_connects_times_out_and_bills_nothing(hasty: Rig) -> None:
    good = await offer_sdp()
    key, voice_id = await _fresh_account(hasty)
    offset = len(hasty.server.log())
    async with connect(hasty.server, key) as ws:
        await ws.send(json.dumps({"type": "start", "voice_id": voice_id}))
        assert (await recv_event(ws))["type"] == "started"
        # No candidate and no end-of-candidates: ICE waits for candidates that never come.
        await ws.send(json.dumps({"type": "offer", "sdp": _without_candidates(good)}))
        assert (await recv_event(ws))["type"] == "answer"
        event = await recv_event(ws, skip=("stats",))
        assert (event["type"], event.get("code")) == ("error", "connect_timeout"), event
        assert await wait_closed(ws) == 4408
    await assert_no_open_billing(hasty.server, key)
    assert "Traceback" not in _new_log(hasty, offset)


class _SilentTrack(MediaStreamTrack):
    """A microphone that never produces a frame: the connection comes up, no RTP ever flows."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._never = asyncio.Event()

    async def recv(self) -> Any:
        await self._never.wait()


async def test_connected_call_without_audio_hits_the_media_timeout(hasty: Rig) -> None:
    key, voice_id = await _fresh_account(hasty)
    offset = len(hasty.server.log())
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(_SilentTrack())
    try:
        sdp = await offer_sdp(pc)
        async with connect(hasty.server, key) as ws:
            await ws.send(json.dumps({"type": "start", "voice_id": voice_id}))
            assert (await recv_event(ws))["type"] == "started"
            await ws.send(json.dumps({"type": "offer", "sdp": sdp}))
            answer = await recv_event(ws)
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            event = await recv_event(ws, skip=("stats",))
            assert (event["type"], event.get("code")) == ("error", "media_timeout"), event
            assert await wait_closed(ws) == 4408
    finally:
        await pc.close()
    await assert_no_open_billing(hasty.server, key)
    assert "Traceback" not in _new_log(hasty, offset)


@pytest.mark.parametrize("send_start", [False, True])
async def test_idle_signalling_socket_is_closed(idle: Rig, send_start: bool) -> None:
    key, voice_id = await _fresh_account(idle)
    async with connect(idle.server, key) as ws:
        if send_start:
            await ws.send(json.dumps({"type": "start", "voice_id": voice_id}))
            assert (await recv_event(ws))["type"] == "started"
        event = await recv_event(ws)
        assert (event["type"], event.get("code")) == ("error", "idle_timeout"), event
        assert await wait_closed(ws) == 4408
    await assert_no_open_billing(idle.server, key, sessions=int(send_start))
