"""Shared by the live-conversion tests: a server with a tiny RVC content encoder, a voice with an RVC model, and a
paced PCM WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import websockets

from synthesis.rvc.tiny import TinyRVC, write_tiny_rvc
from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime import ws_client
from tests.servers import RunningServer, run_server

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class VCSetup:
    server: RunningServer
    api_key: str
    headers: dict[str, str]
    voice_id: str  # WORLD matcher (no RVC model)
    rvc_voice_id: str  # tiny RVC model attached
    tiny: TinyRVC


def start_vc_server(tmp: Path, extra_env: dict[str, str] | None = None) -> Iterator[VCSetup]:
    tiny = write_tiny_rvc(tmp / "tiny-rvc")
    env = {"DUBLE_WEBRTC_ICE_ADDRESS": "127.0.0.1", "DUBLE_RVC_F0_METHOD": "pm", **(extra_env or {})}
    with run_server(tmp, env, args=["--content-encoder", str(tiny.content_dir)]) as srv:
        key, headers = create_account(srv)
        wav = espeak_wav(tmp / "vc-ref.wav", REFERENCE_TEXT["pt-BR"])
        voice = upload_voice(srv, headers, wav, name="world")
        rvc_voice = upload_voice(srv, headers, wav, name="rvc")
        with open(tiny.model_path, "rb") as m, open(tiny.index_path, "rb") as ix:
            resp = httpx.post(f"{srv.base_url}/v1/voices/{rvc_voice['id']}/rvc-model", headers=headers,
                              files={"model": ("voice.pth", m), "index": ("voice.index", ix)}, timeout=300)
        assert resp.status_code == 201, resp.text
        yield VCSetup(srv, key, headers, str(voice["id"]), str(rvc_voice["id"]), tiny)


def tone(freq_hz: float, seconds: float, rate: int, amp: float = 0.3) -> F32:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def to_pcm(x: F32) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def from_pcm(data: bytes | bytearray) -> F32:
    return np.frombuffer(bytes(data), dtype="<i2").astype(np.float32) / 32768.0


@dataclass
class VCResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    close_code: int | None = None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def samples(self) -> F32:
        return from_pcm(self.audio)


def connect(server: RunningServer, api_key: str, path: str = "/v1/vc/stream") -> Any:
    return ws_client.connect(server, api_key, path, max_queue=16)


async def next_event(ws: Any, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, str):
            event: dict[str, Any] = json.loads(msg)
            return event


async def stream(server: RunningServer, api_key: str, start: dict[str, Any], audio: F32, *, frame_ms: int = 20,
                 speed: float = 1.0) -> VCResult:
    """Send ``audio`` in frames (paced at ``speed`` × real time, 0 = all at once), then ``end``; collect all."""
    rate = int(start["sample_rate"])
    step = rate * frame_ms // 1000
    got = VCResult()
    async with connect(server, api_key) as ws:
        await ws.send(json.dumps({"type": "start", **start}))
        started = await next_event(ws)
        got.events.append(started)
        assert started["type"] == "started", started

        async def sender() -> None:
            t0 = time.monotonic()
            for i, pos in enumerate(range(0, len(audio), step)):
                await ws.send(to_pcm(audio[pos:pos + step]))
                if speed > 0:
                    delay = t0 + (i + 1) * frame_ms / 1000 / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            await ws.send(json.dumps({"type": "end"}))

        async def receiver() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for msg in ws:
                    if isinstance(msg, bytes):
                        got.audio += msg
                    else:
                        got.events.append(json.loads(msg))

        async with asyncio.timeout(120):
            await asyncio.gather(sender(), receiver())
        got.close_code = ws.close_code
    return got
