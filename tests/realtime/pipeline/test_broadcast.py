"""The relay hub on its own, over the real Redis (own key prefix): channel and account isolation, limits across
hubs, slow listeners, revocation, claims that expire with a dead instance."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import redis.asyncio as aioredis

from billing.redis_client import connect_redis
from realtime.pipeline.broadcast import BroadcastHub, ChannelBusy, RelayLimits, Revoked, TooManyListeners
from tests.servers import REDIS_URL

HubFactory = Callable[..., AbstractAsyncContextManager[BroadcastHub]]


@pytest.fixture
def prefix() -> str:
    return f"dubletest:relay:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = connect_redis(REDIS_URL)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def hubs(redis: aioredis.Redis, prefix: str) -> HubFactory:
    """Hubs sharing one Redis prefix, as instances of one deployment do."""

    @asynccontextmanager
    async def make(**limits: int) -> AsyncIterator[BroadcastHub]:
        async with BroadcastHub(redis, prefix, RelayLimits(**limits)) as hub:
            yield hub

    return make


async def test_items_reach_only_the_same_account_and_channel_on_any_instance(hubs: HubFactory) -> None:
    async with hubs() as a, hubs() as b:
        alice, bob = uuid.uuid4(), uuid.uuid4()
        a_obs = await a.subscribe(alice, "obs")
        b_obs_same_account = await b.subscribe(alice, "obs")
        a_other, b_bob = await a.subscribe(alice, "other"), await b.subscribe(bob, "obs")
        source = await a.open_source(alice, "obs", "s1")
        source.publish(b"\x01\x02")
        source.publish({"type": "segment"})
        source.end()
        for listener in (a_obs, b_obs_same_account):
            assert [await listener.get() for _ in range(2)] == [b"\x01\x02", {"type": "segment"}]
        other = await a.open_source(alice, "other", "s2")
        other.publish(b"\x09")
        bob_source = await b.open_source(bob, "obs", "s3")
        bob_source.publish(b"\x08")
        assert await a_other.get() == b"\x09" and await b_bob.get() == b"\x08"
        assert (a.channel_count, a.total_listeners, b.total_listeners) == (2, 2, 2)


async def test_every_item_arrives_in_order_across_instances(hubs: HubFactory) -> None:
    async with hubs() as speaker_hub, hubs() as listener_hub:
        account = uuid.uuid4()
        listener = await listener_hub.subscribe(account, "obs")
        source = await speaker_hub.open_source(account, "obs", "s1")
        source.start(kind="tts")
        sent = [i.to_bytes(2, "big") for i in range(500)]
        for chunk in sent:
            source.publish(chunk)
        source.end()
        got = [await listener.get() for _ in range(len(sent) + 2)]
        assert got[0] == {"type": "source_started", "session_id": "s1", "kind": "tts"}
        assert got[1:-1] == sent
        assert got[-1] == {"type": "source_ended", "session_id": "s1"}


async def test_a_slow_listener_cannot_grow_the_channel_past_its_bound(hubs: HubFactory,
                                                                       redis: aioredis.Redis) -> None:
    async with hubs(stream_items=100) as hub:
        account = uuid.uuid4()
        slow = await hub.subscribe(account, "obs")
        source = await hub.open_source(account, "obs", "s1")
        for i in range(2000):
            source.publish(i.to_bytes(2, "big"))
        await hub.flushed()
        assert await redis.xlen(hub._stream_key(account, "obs")) < 300  # MAXLEN ~ trims whole nodes
        first = await slow.get()
        assert isinstance(first, bytes) and int.from_bytes(first, "big") > 1000  # the oldest were dropped
        assert await slow.get() == (int.from_bytes(first, "big") + 1).to_bytes(2, "big")


async def test_limits_per_channel_and_per_account_hold_across_instances(hubs: HubFactory) -> None:
    async with hubs(max_listeners_per_channel=2, max_listeners_per_account=3) as a, \
            hubs(max_listeners_per_channel=2, max_listeners_per_account=3) as b:
        account = uuid.uuid4()
        first = await a.subscribe(account, "a")
        await b.subscribe(account, "a")
        with pytest.raises(TooManyListeners):
            await a.subscribe(account, "a")
        await b.subscribe(account, "b")
        with pytest.raises(TooManyListeners):
            await a.subscribe(account, "c")
        await a.unsubscribe(first)
        await a.unsubscribe(first)  # twice is harmless
        await a.subscribe(account, "c")
        assert await a.listener_count(account, "a") == 1 and a.total_listeners + b.total_listeners == 3
        await a.subscribe(uuid.uuid4(), "a")  # other accounts have their own budget


async def test_a_dead_instances_listeners_free_their_slots(hubs: HubFactory) -> None:
    async with hubs(max_listeners_per_channel=1, listener_ttl_ms=300) as alive:
        account = uuid.uuid4()
        dead = BroadcastHub(alive._redis, alive._prefix, RelayLimits(listener_ttl_ms=300))  # never runs a heartbeat
        await dead.subscribe(account, "obs")
        with pytest.raises(TooManyListeners):
            await alive.subscribe(account, "obs")
        for _ in range(100):  # the dead one's slot expires on Redis' clock, 300 ms after it subscribed
            try:
                held = await alive.subscribe(account, "obs")
                break
            except TooManyListeners:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("a dead instance's listener kept its slot")
        assert await alive.listener_count(account, "obs") == 1
        await asyncio.sleep(0.5)  # well past the ttl: the heartbeat keeps the live one
        assert await alive.listener_count(account, "obs") == 1
        await alive.unsubscribe(held)


async def test_revoking_a_token_reaches_only_its_listeners_on_every_instance(hubs: HubFactory) -> None:
    async with hubs() as a, hubs() as b:
        account, token = uuid.uuid4(), uuid.uuid4()
        with_token, with_key = await b.subscribe(account, "obs", token), await b.subscribe(account, "obs")
        source = await a.open_source(account, "obs", "s1")
        source.publish(b"\x00")
        a.revoke(account, "obs", token)
        source.publish(b"\x01")
        await a.flushed()
        assert isinstance(await with_token.get(), Revoked)  # not even what was queued before the revocation
        assert [await with_key.get(), await with_key.get()] == [b"\x00", b"\x01"]


async def test_one_source_per_channel_on_all_instances_until_it_ends(hubs: HubFactory) -> None:
    async with hubs() as a, hubs() as b:
        account = uuid.uuid4()
        listener = await b.subscribe(account, "obs")
        source = await a.open_source(account, "obs", "s1")
        assert source.listeners == 1
        with pytest.raises(ChannelBusy):
            await b.open_source(account, "obs", "s2")
        await b.open_source(uuid.uuid4(), "obs", "s3")  # another account's channel of the same name
        source.start(kind="tts")
        source.publish(b"\x01")
        source.end()
        source.end()
        source.publish(b"\x02")  # after the end nothing more goes out
        refused_early = await a.open_source(account, "obs", "s4")  # freed by the end(), same instance
        refused_early.end()  # never started: frees the channel without telling listeners
        await a.flushed()
        last = await b.open_source(account, "obs", "s5")
        last.start(kind="vc")
        kinds = [item["type"] if isinstance(item, dict) else item for item in
                 [await listener.get() for _ in range(4)]]
        assert kinds == ["source_started", b"\x01", "source_ended", "source_started"]


async def test_a_dead_instances_claim_expires(hubs: HubFactory) -> None:
    async with hubs(claim_ttl_ms=300) as alive:
        account = uuid.uuid4()
        dead = BroadcastHub(alive._redis, alive._prefix, RelayLimits(claim_ttl_ms=300))  # no heartbeat: "killed"
        await dead.open_source(account, "obs", "s1")
        kept = await alive.open_source(account, "mine", "s2")
        with pytest.raises(ChannelBusy):
            await alive.open_source(account, "obs", "s3")
        for _ in range(100):
            try:
                await alive.open_source(account, "obs", "s3")
                break
            except ChannelBusy:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("a dead instance's claim never expired")
        await asyncio.sleep(0.5)
        with pytest.raises(ChannelBusy):  # the live instance's heartbeat keeps its own claims
            await alive.open_source(account, "mine", "s4")
        kept.end()
