"""Channels that relay a stream's output (TTS or live conversion) to listeners (an OBS browser source) of the same
account.

A stream started with ``broadcast`` publishes, besides sending to its own client, the audio it delivered (PCM at the
stream's rate) and its events; listeners subscribed to that account's channel receive copies. Publishing never waits:
a listener whose queue is full (``queue_items`` items or ``queue_bytes`` of audio) loses its oldest items, so one
stalled OBS source can neither slow the stream nor make the server hold more than that for it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

CHANNEL_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"

BroadcastItem = bytes | dict[str, Any]

DEFAULT_QUEUE_BYTES = 2 * 1024 * 1024  # ~43 s of 24 kHz 16-bit PCM


class Revoked:
    """Queued to a listener whose listen token was deleted: it must be disconnected."""


class TooManyListeners(Exception):
    pass


class ChannelBusy(Exception):
    """Another stream of the account is broadcasting on the channel: two voices would interleave."""


@dataclass(slots=True, eq=False)
class Listener:
    key: tuple[uuid.UUID, str]
    token_id: uuid.UUID | None
    queue: asyncio.Queue[BroadcastItem | Revoked] = field(repr=False)
    max_queued_bytes: int = DEFAULT_QUEUE_BYTES
    dropped_items: int = 0
    queued_bytes: int = 0

    async def get(self) -> BroadcastItem | Revoked:
        item = await self.queue.get()
        self.queued_bytes -= _audio_bytes(item)
        return item

    def put(self, item: BroadcastItem | Revoked) -> None:
        size = _audio_bytes(item)
        while self.queue.full() or (not self.queue.empty() and self.queued_bytes + size > self.max_queued_bytes):
            self.queued_bytes -= _audio_bytes(self.queue.get_nowait())
            self.dropped_items += 1
        self.queue.put_nowait(item)
        self.queued_bytes += size

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0


def _audio_bytes(item: BroadcastItem | Revoked) -> int:
    return len(item) if isinstance(item, bytes) else 0


class BroadcastHub:
    """In-process fan-out: one hub per server process, built in the lifespan."""

    def __init__(self, *, max_listeners_per_channel: int = 8, max_listeners_per_account: int = 32,
                 queue_items: int = 1024, queue_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        self._max_listeners = max_listeners_per_channel
        self._max_per_account = max_listeners_per_account
        self._per_account: dict[uuid.UUID, int] = {}
        self._queue_items = queue_items
        self._queue_bytes = queue_bytes
        self._channels: dict[tuple[uuid.UUID, str], set[Listener]] = {}
        self._speakers: dict[tuple[uuid.UUID, str], str] = {}

    def open_source(self, account_id: uuid.UUID, channel: str, session_id: str) -> BroadcastSource:
        """Claim the channel for one stream until its ``end()``; ChannelBusy while another stream holds it."""
        key = (account_id, channel)
        if key in self._speakers:
            raise ChannelBusy(f"another stream is already broadcasting on channel {channel!r}")
        self._speakers[key] = session_id
        return BroadcastSource(self, account_id, channel, session_id)

    def _release(self, account_id: uuid.UUID, channel: str, session_id: str) -> None:
        if self._speakers.get((account_id, channel)) == session_id:
            del self._speakers[(account_id, channel)]

    def subscribe(self, account_id: uuid.UUID, channel: str, token_id: uuid.UUID | None = None) -> Listener:
        key = (account_id, channel)
        if len(self._channels.get(key, ())) >= self._max_listeners:
            raise TooManyListeners(f"channel {channel!r} already has {self._max_listeners} listeners")
        if self._per_account.get(account_id, 0) >= self._max_per_account:
            raise TooManyListeners(f"this account already has {self._max_per_account} listeners connected")
        listener = Listener(key, token_id, asyncio.Queue(self._queue_items), self._queue_bytes)
        self._channels.setdefault(key, set()).add(listener)
        self._per_account[account_id] = self._per_account.get(account_id, 0) + 1
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        members = self._channels.get(listener.key)
        if members is None or listener not in members:
            return
        members.discard(listener)
        if not members:
            del self._channels[listener.key]
        account_id = listener.key[0]
        self._per_account[account_id] -= 1
        if not self._per_account[account_id]:
            del self._per_account[account_id]

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    @property
    def total_listeners(self) -> int:
        return sum(len(m) for m in self._channels.values())

    def listener_count(self, account_id: uuid.UUID, channel: str) -> int:
        return len(self._channels.get((account_id, channel), ()))

    def publish(self, account_id: uuid.UUID, channel: str, item: BroadcastItem) -> None:
        for listener in self._channels.get((account_id, channel), ()):
            listener.put(item)

    def revoke(self, token_id: uuid.UUID) -> None:
        for members in self._channels.values():
            for listener in members:
                if listener.token_id == token_id:
                    listener.clear()
                    listener.put(Revoked())


class BroadcastSource:
    """One stream's side of a channel (from ``BroadcastHub.open_source``): ``source_started``, its audio and events,
    then ``source_ended``; ``end()`` also frees the channel, and is safe to call more than once."""

    def __init__(self, hub: BroadcastHub, account_id: uuid.UUID, channel: str, session_id: str) -> None:
        self._hub = hub
        self._account_id = account_id
        self.channel = channel
        self._session_id = session_id
        self._started = False
        self._ended = False

    @property
    def listeners(self) -> int:
        return self._hub.listener_count(self._account_id, self.channel)

    def start(self, **fields: Any) -> None:
        self.publish({"type": "source_started", "session_id": self._session_id, **fields})
        self._started = True

    def publish(self, item: BroadcastItem) -> None:
        if not self._ended:
            self._hub.publish(self._account_id, self.channel, item)

    def end(self) -> None:
        if self._ended:
            return
        if self._started:
            self.publish({"type": "source_ended", "session_id": self._session_id})
        self._ended = True
        self._hub._release(self._account_id, self.channel, self._session_id)
