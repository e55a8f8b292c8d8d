"""Rate limits in Redis (generic cell rate algorithm in one atomic script), per API key and per client IP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from billing import redis_lua
from billing.config import RateLimitConfig
from billing.errors import RateLimited

ACTIONS = ("signup", "session_start", "upload", "login")


@dataclass(slots=True, frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0
    scope: str = ""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str, config: RateLimitConfig) -> None:
        self._redis = redis
        self._prefix = prefix
        self._config = config
        self._script = redis.register_script(redis_lua.RATE_LIMIT)

    def _limits(self, action: str, paid: bool) -> tuple[int, int]:
        """(per key, per IP) limits for ``action``; 0 means no limit. For ``login`` the "key" is the e-mail."""
        c = self._config
        per_key, per_ip = {
            "signup": (0, c.signups_per_ip),
            "session_start": (c.session_starts_per_key, c.session_starts_per_ip),
            "upload": (c.uploads_per_key, c.uploads_per_ip),
            "login": (c.logins_per_email, c.logins_per_ip),
        }[action]
        return (per_key * c.paid_plan_multiplier if paid else per_key), per_ip

    async def _hit(self, bucket: str, limit: int, scope: str) -> RateDecision:
        raw = await self._script(
            keys=[f"{self._prefix}rl:{bucket}"], args=[self._config.window_s * 1000, limit]
        )
        allowed, retry_ms = int(raw[0]), int(raw[1])
        return RateDecision(bool(allowed), -(-retry_ms // 1000), scope)

    async def check(
        self, action: str, *, api_key: str | None = None, ip: str | None = None, paid: bool = False
    ) -> RateDecision:
        """Count one ``action`` against the key's and the IP's budgets; an exhausted one refuses it."""
        if not self._config.enabled:
            return RateDecision(True)
        per_key, per_ip = self._limits(action, paid)
        if api_key and per_key > 0:
            digest = hashlib.sha256(api_key.encode()).hexdigest()[:32]
            decision = await self._hit(f"{action}:key:{digest}", per_key, "per API key")
            if not decision.allowed:
                return decision
        if ip and per_ip > 0:
            decision = await self._hit(f"{action}:ip:{ip}", per_ip, "per IP")
            if not decision.allowed:
                return decision
        return RateDecision(True)

    async def enforce(
        self, action: str, *, api_key: str | None = None, ip: str | None = None, paid: bool = False
    ) -> None:
        decision = await self.check(action, api_key=api_key, ip=ip, paid=paid)
        if not decision.allowed:
            raise RateLimited(decision.scope, decision.retry_after_s)
