"""Everything billing runs, built once in the app lifespan (``BillingServices.start``) and stopped with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from billing.config import BillingConfig
from billing.errors import REDIS_UNREACHABLE, BillingUnavailable
from billing.ledger import Ledger
from billing.metering import Metering, SessionMeter
from billing.mp_gateway import MercadoPagoGateway
from billing.payments import PaymentService
from billing.ratelimit import RateLimiter
from billing.reservations import ReservationStore
from billing.settlement import Settler


@dataclass(slots=True)
class BillingServices:
    config: BillingConfig
    ledger: Ledger
    store: ReservationStore
    metering: Metering
    settler: Settler
    limiter: RateLimiter
    payments: PaymentService
    orphans_settled_at_start: int = 0

    @classmethod
    async def start(cls, config: BillingConfig, pool: asyncpg.Pool, redis: aioredis.Redis) -> BillingServices:
        """Build the services, settle sessions orphaned by dead processes, start periodic settlement."""
        ledger = Ledger(pool)
        store = ReservationStore(redis, config.redis_prefix, int(config.owner_ttl_s * 1000))
        metering = Metering(config, store, ledger, owner=uuid.uuid4().hex)
        settler = Settler(metering, config.settle_interval_s, config.owner_ttl_s)
        payments = PaymentService(
            pool, ledger, store, MercadoPagoGateway(config.mercadopago), config.mercadopago
        )
        services = cls(
            config,
            ledger,
            store,
            metering,
            settler,
            RateLimiter(redis, config.redis_prefix, config.rate_limits),
            payments,
        )
        services.orphans_settled_at_start = await settler.start()
        return services

    async def stop(self) -> None:
        await self.settler.stop()

    async def start_session(
        self,
        account_id: uuid.UUID,
        operation: str,
        tag: str | None = None,
        *,
        api_key: str | None = None,
        ip: str | None = None,
        paid_plan: bool = False,
        session_id: str | None = None,
    ) -> SessionMeter:
        """What a streaming transport calls on ``start``: rate limit, then open a meter. Raises RateLimited,
        InsufficientCredits or BillingUnavailable (all ``BillingError`` with a ``code``)."""
        try:
            await self.limiter.enforce("session_start", api_key=api_key or str(account_id), ip=ip, paid=paid_plan)
        except REDIS_UNREACHABLE as exc:
            raise BillingUnavailable("billing store unreachable") from exc
        return await self.metering.open(account_id, operation, tag, session_id)
