"""The relay hub on its own: channel and account isolation, limits, slow listeners, revocation."""

from __future__ import annotations

import uuid

import pytest

from realtime.pipeline.broadcast import BroadcastHub, ChannelBusy, Revoked, TooManyListeners


async def test_items_reach_only_the_same_account_and_channel() -> None:
    hub = BroadcastHub()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a_obs, a_other, b_obs = hub.subscribe(alice, "obs"), hub.subscribe(alice, "other"), hub.subscribe(bob, "obs")
    hub.publish(alice, "obs", b"\x01\x02")
    hub.publish(alice, "obs", {"type": "segment"})
    assert [await a_obs.get(), await a_obs.get()] == [b"\x01\x02", {"type": "segment"}]
    assert a_other.queue.empty() and b_obs.queue.empty()
    assert (hub.channel_count, hub.total_listeners) == (3, 3)


async def test_a_slow_listener_loses_its_oldest_items_without_blocking() -> None:
    hub = BroadcastHub(queue_items=3)
    account = uuid.uuid4()
    listener = hub.subscribe(account, "obs")
    for i in range(5):
        hub.publish(account, "obs", bytes([i]))
    assert listener.dropped_items == 2
    assert [await listener.get() for _ in range(3)] == [b"\x02", b"\x03", b"\x04"]


def test_limits_per_channel_and_per_account_free_up_on_leave() -> None:
    hub = BroadcastHub(max_listeners_per_channel=2, max_listeners_per_account=3)
    account = uuid.uuid4()
    first, _ = hub.subscribe(account, "a"), hub.subscribe(account, "a")
    with pytest.raises(TooManyListeners):
        hub.subscribe(account, "a")
    hub.subscribe(account, "b")
    with pytest.raises(TooManyListeners):
        hub.subscribe(account, "c")
    assert hub.channel_count == 2  # a refused subscription leaves no empty channel behind
    hub.unsubscribe(first)
    hub.unsubscribe(first)  # twice is harmless
    hub.subscribe(account, "c")
    assert hub.listener_count(account, "a") == 1 and hub.total_listeners == 3
    hub.subscribe(uuid.uuid4(), "a")  # other accounts have their own budget


async def test_revoking_a_token_reaches_only_its_listeners() -> None:
    hub = BroadcastHub()
    account, token = uuid.uuid4(), uuid.uuid4()
    with_token, with_key = hub.subscribe(account, "obs", token), hub.subscribe(account, "obs")
    hub.publish(account, "obs", b"\x00")
    hub.revoke(token)
    assert isinstance(await with_token.get(), Revoked) and with_token.queue.empty()
    assert await with_key.get() == b"\x00" and with_key.queue.empty()


async def test_one_source_per_channel_until_it_ends() -> None:
    hub = BroadcastHub()
    account = uuid.uuid4()
    listener = hub.subscribe(account, "obs")
    source = hub.open_source(account, "obs", "s1")
    with pytest.raises(ChannelBusy):
        hub.open_source(account, "obs", "s2")
    hub.open_source(uuid.uuid4(), "obs", "s3")  # another account's channel of the same name
    source.start(kind="tts")
    source.publish(b"\x01")
    source.end()
    source.end()
    source.publish(b"\x02")  # after the end nothing more goes out
    kinds = [item["type"] if isinstance(item, dict) else item for item in
             [await listener.get() for _ in range(listener.queue.qsize())]]
    assert kinds == ["source_started", b"\x01", "source_ended"]
    refused_early = hub.open_source(account, "obs", "s4")
    refused_early.end()  # never started: frees the channel without telling listeners
    assert listener.queue.empty()
    hub.open_source(account, "obs", "s5")


async def test_a_stalled_listener_holds_at_most_queue_bytes_of_audio() -> None:
    hub = BroadcastHub(queue_items=1024, queue_bytes=1000)
    account = uuid.uuid4()
    listener = hub.subscribe(account, "obs")
    for i in range(50):
        hub.publish(account, "obs", bytes([i]) * 100)
        hub.publish(account, "obs", {"type": "segment", "index": i})
    assert listener.queued_bytes == 1000
    items = [await listener.get() for _ in range(listener.queue.qsize())]
    audio = [item for item in items if isinstance(item, bytes)]
    assert sum(map(len, audio)) == 1000 and audio[-1] == bytes([49]) * 100  # the newest audio is kept
    assert listener.queued_bytes == 0 and listener.dropped_items > 0
