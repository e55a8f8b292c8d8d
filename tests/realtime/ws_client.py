"""A tiny real WebSocket client for the TTS protocol."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Data

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


BILLED_PATHS = ("/v1/tts/stream", "/v1/vc/stream")


class AckingConnection(ClientConnection):
    """Acknowledges every binary frame it hands to the caller, as the billed streams require (docs/protocol.md,
    flow control); ``acks = False`` makes it a client that reads but never acknowledges."""

    acks = True
    received_bytes = 0

    async def recv(self, decode: bool | None = None) -> Data:  # type: ignore[override]
        msg = await super().recv(decode)
        if isinstance(msg, bytes) and self.acks:
            self.received_bytes += len(msg)
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.send(json.dumps({"type": "ack", "bytes": self.received_bytes}))
        return msg


def connect(server: RunningServer, api_key: str, path: str = "/v1/tts/stream", *, ack: bool | None = None,
            **options: Any) -> Any:
    """Open a client; by default it acknowledges audio on the billed streams (``ack=False``: never)."""
    url = f"{server.ws_url}{path}{'&' if '?' in path else '?'}api_key={api_key}"
    acking = path.startswith(BILLED_PATHS) if ack is None else ack

    class Connection(AckingConnection):
        acks = acking

    settings: dict[str, Any] = {"max_size": None, "max_queue": None, "open_timeout": 10, **options}
    return websockets.connect(url, create_connection=Connection, **settings)


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
