"""Graceful drain: on SIGTERM an instance refuses new sessions, tells the open ones ``going_away``, lets them finish
up to a deadline, then exits (the lifespan settles billing on the way out).

Every session is a WebSocket (WebRTC calls included: they live as long as their signalling socket), so the drain is
an ASGI middleware around WebSocket connections: it counts them, sends ``going_away`` when the drain begins and, at
the deadline, makes the handler's next ``receive()`` a disconnect, so each transport ends the way it does when a
client leaves (usage settled, relay channel freed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

CLOSE_SERVICE_RESTART = 1012
# Handlers get this long after the deadline to settle and close before the server stops waiting for them.
GRACE_S = 5.0


class Drain:
    """The instance's drain state: built with the app, read by the middleware, ``/healthz`` and the server loop."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self._began_at: float | None = None
        self._begun = asyncio.Event()
        self.open_sessions = 0

    @property
    def draining(self) -> bool:
        return self._began_at is not None

    def begin(self) -> None:
        if self._began_at is None:
            self._began_at = time.monotonic()
            self._begun.set()

    def remaining_s(self) -> float:
        assert self._began_at is not None
        return max(0.0, self._began_at + self.deadline_s - time.monotonic())

    def finished(self) -> bool:
        if self._began_at is None:
            return False
        return self.open_sessions == 0 or time.monotonic() > self._began_at + self.deadline_s + GRACE_S

    async def wait_begun(self) -> None:
        await self._begun.wait()

    def going_away(self) -> dict[str, Any]:
        return {"type": "going_away", "reason": "server_draining", "deadline_s": round(self.remaining_s(), 3)}


class _Connection:
    """One WebSocket's ASGI channels, with sends serialized (the drain notice may come from another task) and a
    receive that turns into a disconnect when the drain deadline cuts the session."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._lock = asyncio.Lock()
        self._cut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: asyncio.Future[Message] | None = None
        self.accepted = False
        self.closed = False

    async def send(self, message: Message) -> None:
        async with self._lock:
            if message["type"] == "websocket.accept":
                self.accepted = True
            elif message["type"] == "websocket.close":
                self.closed = True
                if self._cut.done():  # the drain deadline ended the session, whatever the app thinks happened
                    message = {**message, "code": CLOSE_SERVICE_RESTART, "reason": "draining"}
            await self._send(message)

    async def notify(self, event: dict[str, Any]) -> None:
        async with self._lock:
            if self.accepted and not self.closed:
                await self._send({"type": "websocket.send", "text": json.dumps(event)})

    def cut(self) -> None:
        if not self._cut.done():
            self._cut.set_result(None)

    async def receive(self) -> Message:
        if self._cut.done():
            return {"type": "websocket.disconnect", "code": CLOSE_SERVICE_RESTART}
        # One pending read survives a caller that gives up (a timeout): its message goes to the next call, never lost.
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._receive())
        waiting: set[asyncio.Future[Any]] = {self._pending, self._cut}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._pending.done():
            done, self._pending = self._pending, None
            return done.result()
        return {"type": "websocket.disconnect", "code": CLOSE_SERVICE_RESTART}

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)


class DrainMiddleware:
    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await self._refuse(receive, send)
            return
        conn = _Connection(receive, send)
        self.drain.open_sessions += 1
        watcher = asyncio.create_task(self._watch(conn))
        try:
            await self.app(scope, conn.receive, conn.send)
            if self.drain.draining and conn.accepted and not conn.closed:
                with contextlib.suppress(Exception):  # best effort: the client may be gone already
                    await conn.send({"type": "websocket.close", "code": CLOSE_SERVICE_RESTART,
                                     "reason": "draining"})
        finally:
            self.drain.open_sessions -= 1
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await conn.aclose()

    async def _watch(self, conn: _Connection) -> None:
        await self.drain.wait_begun()
        await conn.notify(self.drain.going_away())
        await asyncio.sleep(self.drain.remaining_s())
        conn.cut()

    async def _refuse(self, receive: Receive, send: Send) -> None:
        """A session opened while draining: told ``going_away`` at once, to reconnect (the proxy picks another
        instance)."""
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(self.drain.going_away())})
        await send({"type": "websocket.close", "code": CLOSE_SERVICE_RESTART, "reason": "draining"})


class DrainingServer(uvicorn.Server):
    """uvicorn, except that the first SIGTERM drains (see module docstring) instead of closing every socket at once;
    SIGINT or a second SIGTERM stops at once as uvicorn does."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_requested = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._drain_requested:
            self._drain_requested = True  # acted on by the server loop, outside the signal handler
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_requested:
            self._drain.begin()
            if self._drain.finished():
                return True
        return await super().on_tick(counter)
