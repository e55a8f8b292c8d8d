"""Channels that relay a stream's output (TTS or live conversion) to listeners (an OBS browser source) of the same
account, on any instance sharing the Redis.

A stream started with ``broadcast`` publishes, besides sending to its own client, the audio it delivered (PCM at the
stream's rate) and its events. Each channel is a Redis stream (``XADD MAXLEN ~``): ordered, bounded, read by every
listener with its own cursor (``XREAD BLOCK``), so a listener on one instance hears a speaker on another. Publishing
never waits: items go to one ordered background writer, and a listener that falls further behind than the stream
keeps loses its oldest items, so one stalled OBS source cannot slow the stream.

The speaker's claim on a channel and the listener counts live in Redis with expiry, refreshed while their owner
lives, so a killed instance frees its channels and its listener slots by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

CHANNEL_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"

BroadcastItem = bytes | dict[str, Any]

log = logging.getLogger("duble.relay")

RELAY_ERRORS = (RedisError, OSError, TimeoutError)

# KEYS: channel listeners, account listeners. ARGV: listener id, per-channel limit, per-account limit, ttl ms.
# Scores are expiry times in Redis' own clock, so instances with skewed clocks agree.
_SUBSCRIBE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 0
"""

_REFRESH_LISTENER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 0
"""

_COUNT_LISTENERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""

# KEYS: claim. ARGV: session id, ttl ms. 1 while the claim is (or becomes again) this session's.
_REFRESH_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

_RELEASE_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Revoked:
    """Returned to a listener whose listen token was deleted: it must be disconnected."""


class TooManyListeners(Exception):
    pass


class ChannelBusy(Exception):
    """Another stream of the account is broadcasting on the channel: two voices would interleave."""


@dataclass(frozen=True, slots=True)
class RelayLimits:
    max_listeners_per_channel: int = 8
    max_listeners_per_account: int = 32
    stream_items: int = 1024  # items a channel keeps for listeners that lag (MAXLEN ~)
    stream_idle_ttl_ms: int = 10 * 60 * 1000  # a channel nobody speaks on disappears after this
    claim_ttl_ms: int = 10_000  # how long a killed instance keeps its channels
    listener_ttl_ms: int = 15_000  # how long a killed instance's listeners hold their slots
    read_block_ms: int = 1_000  # below the client's socket timeout, so a quiet channel is not an error
    write_queue_items: int = 8_192  # items waiting for Redis; beyond, the oldest are dropped
    retry_delay_s: float = 0.5  # between attempts while Redis is unreachable


_XReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def _newest_id(redis: aioredis.Redis, stream: str) -> str | None:
    newest = cast(list[tuple[bytes, Any]], await redis.xrevrange(stream, count=1))
    return newest[0][0].decode() if newest else None


def _encode(item: BroadcastItem) -> dict[str, bytes]:
    if isinstance(item, bytes):
        return {"a": item}
    return {"e": json.dumps(item, separators=(",", ":")).encode()}


@dataclass(slots=True)
class _Write:
    seq: int
    stream: str
    fields: dict[str, bytes] | None = None
    release: tuple[str, str] | None = None  # (claim key, session id), after the stream's last item


class Listener:
    """One subscriber's cursor on a channel's stream; ``get()`` waits for the next item."""

    def __init__(self, hub: BroadcastHub, key: tuple[uuid.UUID, str], token_id: uuid.UUID | None,
                 last_id: str) -> None:
        self._hub = hub
        self.key = key
        self.token_id = token_id
        self.id = uuid.uuid4().hex
        self._last_id = last_id
        self._buffer: deque[BroadcastItem] = deque()
        self._revoked = False

    async def get(self) -> BroadcastItem | Revoked:
        while not self._buffer:
            if self._revoked:
                return Revoked()
            await self._read()
        return self._buffer.popleft()

    async def _read(self) -> None:
        hub = self._hub
        stream = hub._stream_key(*self.key)
        try:
            reply = cast(_XReadReply | None, await hub._redis.xread({stream: self._last_id}, count=256,
                                                                     block=hub.limits.read_block_ms))
        except RELAY_ERRORS as exc:
            log.warning("relay: reading channel failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(hub.limits.retry_delay_s)
            await self._resync(stream)
            return
        for _, entries in reply or ():
            for entry_id, fields in entries:
                self._last_id = entry_id.decode()
                self._take(fields)

    async def _resync(self, stream: str) -> None:
        """After an outage: a Redis that restarted empty numbers its entries from zero again."""
        with contextlib.suppress(*RELAY_ERRORS):
            newest = await _newest_id(self._hub._redis, stream)
            if newest is None or _stream_id(newest) < _stream_id(self._last_id):
                self._last_id = "0-0"

    def _take(self, fields: dict[bytes, bytes]) -> None:
        if self._revoked:
            return
        if (audio := fields.get(b"a")) is not None:
            self._buffer.append(audio)
        elif (event := fields.get(b"e")) is not None:
            self._buffer.append(json.loads(event))
        elif (revoked := fields.get(b"r")) is not None and self.token_id is not None \
                and revoked.decode() == str(self.token_id):
            self._buffer.clear()  # a revoked token hears nothing more, not even what was queued
            self._revoked = True


class BroadcastHub:
    """The relay over Redis; built in the lifespan and run with ``async with`` (its writer and heartbeat tasks)."""

    def __init__(self, redis: aioredis.Redis, prefix: str, limits: RelayLimits | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self.limits = limits or RelayLimits()
        self._listeners: set[Listener] = set()
        self._sources: set[BroadcastSource] = set()
        self._writes: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._enqueued = 0
        self._written = 0
        self._progress = asyncio.Condition()
        self.dropped_writes = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> BroadcastHub:
        self._tasks = [asyncio.create_task(self._writer(), name="relay-writer"),
                       asyncio.create_task(self._heartbeat(), name="relay-heartbeat")]
        return self

    async def __aexit__(self, *_: object) -> None:
        for source in list(self._sources):
            source.end()
        with contextlib.suppress(TimeoutError):
            await self.flushed(timeout_s=5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _key(self, kind: str, account_id: uuid.UUID, channel: str = "") -> str:
        return f"{self._prefix}relay:{kind}:{account_id}:{channel}"

    def _stream_key(self, account_id: uuid.UUID, channel: str) -> str:
        return self._key("s", account_id, channel)

    # --- speakers ---------------------------------------------------------------------------------------------

    async def open_source(self, account_id: uuid.UUID, channel: str, session_id: str) -> BroadcastSource:
        """Claim the channel for one stream until its ``end()``; ChannelBusy while another stream (on any instance)
        holds it."""
        await self.flushed()  # this instance's earlier end() must have freed the channel before we ask again
        claimed = await self._redis.set(self._key("c", account_id, channel), session_id, nx=True,
                                        px=self.limits.claim_ttl_ms)
        if not claimed:
            raise ChannelBusy(f"another stream is already broadcasting on channel {channel!r}")
        try:
            listeners = int(await self._redis.eval(_COUNT_LISTENERS, 1, self._key("l", account_id, channel)))
        except BaseException:
            await self._redis.eval(_RELEASE_CLAIM, 1, self._key("c", account_id, channel), session_id)
            raise
        source = BroadcastSource(self, account_id, channel, session_id, listeners)
        self._sources.add(source)
        return source

    def _publish(self, account_id: uuid.UUID, channel: str, item: BroadcastItem) -> None:
        self._enqueue(_Write(0, self._stream_key(account_id, channel), fields=_encode(item)))

    def _release(self, source: BroadcastSource) -> None:
        self._sources.discard(source)
        claim = self._key("c", source.account_id, source.channel)
        self._enqueue(_Write(0, self._stream_key(source.account_id, source.channel),
                             release=(claim, source.session_id)))

    def revoke(self, account_id: uuid.UUID, channel: str, token_id: uuid.UUID) -> None:
        """Disconnect the listeners of a deleted listen token, on every instance (an entry in its channel)."""
        self._enqueue(_Write(0, self._stream_key(account_id, channel), fields={"r": str(token_id).encode()}))

    def _enqueue(self, write: _Write) -> None:
        if len(self._writes) >= self.limits.write_queue_items:
            self._writes.popleft()
            self.dropped_writes += 1
        self._enqueued += 1
        write.seq = self._enqueued
        self._writes.append(write)
        self._wake.set()

    async def flushed(self, timeout_s: float = 5.0) -> None:
        """Wait until everything published so far has been written to Redis (or dropped)."""
        target = self._enqueued
        async with asyncio.timeout(timeout_s), self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._writes:
                batch = [self._writes.popleft() for _ in range(min(256, len(self._writes)))]
                await self._write(batch)
                async with self._progress:
                    self._written = max(self._written, batch[-1].seq)
                    self._progress.notify_all()

    async def _write(self, batch: list[_Write]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for w in batch:
            if w.fields is not None:
                pipe.xadd(w.stream, w.fields, maxlen=self.limits.stream_items, approximate=True)  # type: ignore[arg-type]
                pipe.pexpire(w.stream, self.limits.stream_idle_ttl_ms)
            if w.release is not None:
                pipe.eval(_RELEASE_CLAIM, 1, *w.release)
        try:
            await pipe.execute()
        except RELAY_ERRORS as exc:
            # Live audio is not worth replaying late; a lost release expires with the claim's ttl.
            log.warning("relay: %d items not written (%s)", len(batch), type(exc).__name__)
            self.dropped_writes += len(batch)

    async def _heartbeat(self) -> None:
        interval_s = min(self.limits.claim_ttl_ms, self.limits.listener_ttl_ms) / 3000
        while True:
            await asyncio.sleep(interval_s)
            pipe = self._redis.pipeline(transaction=False)
            for source in self._sources:
                pipe.eval(_REFRESH_CLAIM, 1, self._key("c", source.account_id, source.channel),
                          source.session_id, str(self.limits.claim_ttl_ms))
            for listener in self._listeners:
                pipe.eval(_REFRESH_LISTENER, 2, self._key("l", *listener.key), self._key("la", listener.key[0]),
                          listener.id, str(self.limits.listener_ttl_ms))
            try:
                await pipe.execute()
            except RELAY_ERRORS as exc:
                log.warning("relay: heartbeat failed (%s)", type(exc).__name__)

    # --- listeners --------------------------------------------------------------------------------------------

    async def subscribe(self, account_id: uuid.UUID, channel: str, token_id: uuid.UUID | None = None) -> Listener:
        """A cursor on the channel from now on; TooManyListeners past the per-channel or per-account limit (counted
        over all instances)."""
        stream = self._stream_key(account_id, channel)
        listener = Listener(self, (account_id, channel), token_id, await _newest_id(self._redis, stream) or "0-0")
        refused = await self._redis.eval(
            _SUBSCRIBE, 2, self._key("l", account_id, channel), self._key("la", account_id), listener.id,
            str(self.limits.max_listeners_per_channel), str(self.limits.max_listeners_per_account),
            str(self.limits.listener_ttl_ms))
        if refused == 1:
            raise TooManyListeners(f"channel {channel!r} already has {self.limits.max_listeners_per_channel} "
                                   "listeners")
        if refused == 2:
            raise TooManyListeners(f"this account already has {self.limits.max_listeners_per_account} listeners "
                                   "connected")
        self._listeners.add(listener)
        return listener

    async def unsubscribe(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        self._listeners.discard(listener)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(self._key("l", *listener.key), listener.id)
        pipe.zrem(self._key("la", listener.key[0]), listener.id)
        try:
            await pipe.execute()
        except RELAY_ERRORS:
            pass  # the slot expires with the listener ttl

    async def listener_count(self, account_id: uuid.UUID, channel: str) -> int:
        """Listeners of the channel on all instances."""
        return int(await self._redis.eval(_COUNT_LISTENERS, 1, self._key("l", account_id, channel)))

    @property
    def channel_count(self) -> int:
        """Channels listened to on this instance."""
        return len({listener.key for listener in self._listeners})

    @property
    def total_listeners(self) -> int:
        """Listeners connected to this instance."""
        return len(self._listeners)


class BroadcastSource:
    """One stream's side of a channel (from ``BroadcastHub.open_source``): ``source_started``, its audio and events,
    then ``source_ended``; ``end()`` also frees the channel, and is safe to call more than once."""

    def __init__(self, hub: BroadcastHub, account_id: uuid.UUID, channel: str, session_id: str,
                 listeners: int) -> None:
        self._hub = hub
        self.account_id = account_id
        self.channel = channel
        self.session_id = session_id
        self.listeners = listeners  # when the channel was claimed
        self._started = False
        self._ended = False

    def start(self, **fields: Any) -> None:
        self.publish({"type": "source_started", "session_id": self.session_id, **fields})
        self._started = True

    def publish(self, item: BroadcastItem) -> None:
        if not self._ended:
            self._hub._publish(self.account_id, self.channel, item)

    def end(self) -> None:
        if self._ended:
            return
        if self._started:
            self.publish({"type": "source_ended", "session_id": self.session_id})
        self._ended = True
        self._hub._release(self)
