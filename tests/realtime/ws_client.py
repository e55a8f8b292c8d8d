"""A tiny real WebSocket client for the TTS protocol."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.servers import RunningServer


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    # Order of arrival: ("audio", n_bytes, t) or ("event", type, t)
    timeline: list[tuple[str, Any, float]] = field(default_factory=list)
    close_code: int | None = None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def connect(server: RunningServer, api_key: str, path: str = "/v1/tts/stream") -> Any:
    url = f"{server.ws_url}{path}{'&' if '?' in path else '?'}api_key={api_key}"
    return websockets.connect(url, max_size=None, max_queue=None, open_timeout=10)


async def send(ws: ClientConnection, **msg: Any) -> None:
    await ws.send(json.dumps(msg))


async def next_event(ws: ClientConnection, timeout_s: float = 30,
                     skip: tuple[str, ...] = ("usage",)) -> dict[str, Any]:
    """The next JSON event (binary audio before it is skipped, and by default billing ``usage`` events)."""
    import asyncio

    deadline = time.monotonic() + timeout_s
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, str):
            event: dict[str, Any] = json.loads(msg)
            if event.get("type") not in skip:
                return event


async def collect(ws: ClientConnection, timeout_s: float = 120, *, any_close: bool = False) -> Received:
    """Everything until the server closes the socket (with ``any_close``, also an abnormal closing)."""
    import asyncio

    got = Received()
    t0 = time.perf_counter()

    async def _loop() -> None:
        try:
            async for msg in ws:
                t = time.perf_counter() - t0
                if isinstance(msg, bytes):
                    got.audio += msg
                    got.timeline.append(("audio", len(msg), t))
                else:
                    event = json.loads(msg)
                    got.events.append(event)
                    got.timeline.append(("event", event["type"], t))
        except websockets.ConnectionClosedError:
            if not any_close:
                raise

    await asyncio.wait_for(_loop(), timeout=timeout_s)
    got.close_code = ws.close_code
    return got
