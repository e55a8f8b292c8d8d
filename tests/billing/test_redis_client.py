"""The service's Redis client over the real Redis: a cancelled call always stops its task, and a connection
interrupted that way never hands an unread reply to the next caller."""

from __future__ import annotations

import asyncio
import uuid

from billing.redis_client import connect_redis
from tests.servers import REDIS_URL

ROUNDS = 300


async def test_a_loop_of_calls_stops_at_every_cancel() -> None:
    redis = connect_redis(REDIS_URL)
    key = f"dubletest:cancel:{uuid.uuid4().hex}"

    async def busy(pipeline: bool) -> None:
        while True:
            if pipeline:
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.set(key, 1, px=5_000)
                    pipe.get(key)
                    await pipe.execute()
            else:
                await redis.set(key, 1, px=5_000)

    try:
        still_running = 0
        for i in range(ROUNDS):
            task = asyncio.create_task(busy(pipeline=i % 2 == 1))
            await asyncio.sleep(0.0005 * (i % 9))  # lands the cancel at many points of a call
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if not done:
                still_running += 1
                for _ in range(100):  # cancel until it stops, so that the next round starts clean
                    task.cancel()
                    if (await asyncio.wait({task}, timeout=0.05))[0]:
                        break
            else:
                assert task.cancelled()
        assert still_running == 0, f"{still_running} of {ROUNDS} cancelled loops went on running"
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_replies_stay_with_their_calls_after_interrupted_ones() -> None:
    redis = connect_redis(REDIS_URL)
    prefix = f"dubletest:replies:{uuid.uuid4().hex}:"
    values = {f"{prefix}{i}": f"v{i}" for i in range(20)}
    await redis.mset(values)
    keys = list(values)

    async def read_forever(key: str) -> None:
        while True:
            assert (await redis.get(key)).decode() == values[key]

    try:
        for i in range(ROUNDS):
            readers = [asyncio.create_task(read_forever(keys[(i + j) % len(keys)])) for j in range(3)]
            await asyncio.sleep(0.0005 * (i % 9))
            for reader in readers:
                reader.cancel()
            await asyncio.wait(readers, timeout=2.0)
            for reader in readers:  # a reply read by the wrong call would have failed its assert
                assert reader.cancelled(), reader
            key = keys[i % len(keys)]
            assert (await redis.get(key)).decode() == values[key]
    finally:
        await redis.delete(*keys)
        await redis.aclose()
