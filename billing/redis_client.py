"""The Redis client every part of the service uses: each call bounded in time, and cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

DEFAULT_TIMEOUT_S = 5.0
# redis-py 8 caps a pool at 100 connections and then fails calls ("Too many connections"); every relay listener
# holds one for its blocking read, so an instance needs more.
DEFAULT_MAX_CONNECTIONS = 2048


class CancellableConnection(Connection):
    """A connection whose sends never lose a cancellation.

    redis-py bounds each send with ``asyncio.wait_for``. On Python 3.11 (fixed in 3.12), ``wait_for`` drops a
    cancellation that arrives just as the send completes: the task carries on as if it had never been cancelled,
    so a background loop asked to stop keeps running and whoever awaits it hangs. Here such a cancellation is raised
    after the send, and the connection, whose reply is then never read, is closed (as redis-py does when a send is
    interrupted)."""

    async def send_packed_command(self, command: bytes | str | Iterable[bytes],
                                  check_health: bool = True) -> None:
        task = asyncio.current_task()
        requested = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)
        if task is not None and task.cancelling() > requested:
            await self.disconnect(nowait=True)
            raise asyncio.CancelledError


def connect_redis(url: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                  max_connections: int = DEFAULT_MAX_CONNECTIONS) -> aioredis.Redis:
    """A client (lazy: nothing connects until the first call) whose calls fail after ``timeout_s`` without an
    answer, instead of hanging on a Redis that stopped responding."""
    return aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                             max_connections=max_connections, connection_class=CancellableConnection)
