from __future__ import annotations

import redis.asyncio as aioredis

from billing.config import RateLimitConfig
from billing.errors import RateLimited
from billing.ratelimit import RateLimiter


async def test_limits_per_key_and_per_ip(redis_client: aioredis.Redis, prefix: str) -> None:
    limiter = RateLimiter(redis_client, prefix, RateLimitConfig(session_starts_per_key=3, session_starts_per_ip=5))
    for _ in range(3):
        assert (await limiter.check("session_start", api_key="k1", ip="10.0.0.1")).allowed
    refused = await limiter.check("session_start", api_key="k1", ip="10.0.0.1")
    assert not refused.allowed and refused.scope == "per API key" and refused.retry_after_s >= 1
    # Another key from the same IP still has its own budget until the IP's budget runs out.
    # A request refused per key did not count against the IP: 3 + these 2 fill its 5.
    assert (await limiter.check("session_start", api_key="k2", ip="10.0.0.1")).allowed
    assert (await limiter.check("session_start", api_key="k3", ip="10.0.0.1")).allowed
    refused_ip = await limiter.check("session_start", api_key="k4", ip="10.0.0.1")
    assert not refused_ip.allowed and refused_ip.scope == "per IP"
    assert (await limiter.check("session_start", api_key="k3", ip="10.0.0.2")).allowed
    # Other actions count separately.
    assert (await limiter.check("upload", api_key="k1", ip="10.0.0.1")).allowed


async def test_paid_plans_get_the_multiplier(redis_client: aioredis.Redis, prefix: str) -> None:
    limiter = RateLimiter(redis_client, prefix, RateLimitConfig(uploads_per_key=2, paid_plan_multiplier=3,
                                                                uploads_per_ip=0))
    allowed = [(await limiter.check("upload", api_key="paid", paid=True)).allowed for _ in range(7)]
    assert allowed == [True] * 6 + [False]


async def test_enforce_raises_and_disabled_never_limits(redis_client: aioredis.Redis, prefix: str) -> None:
    limiter = RateLimiter(redis_client, prefix, RateLimitConfig(signups_per_ip=1))
    await limiter.enforce("signup", ip="1.2.3.4")
    try:
        await limiter.enforce("signup", ip="1.2.3.4")
    except RateLimited as exc:
        assert exc.code == "rate_limited"
    else:
        raise AssertionError("second sign-up was not limited")
    off = RateLimiter(redis_client, prefix, RateLimitConfig(enabled=False, signups_per_ip=1))
    for _ in range(5):
        await off.enforce("signup", ip="1.2.3.4")
