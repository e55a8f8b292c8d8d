"""Errors billing raises to its callers; each carries a stable machine-readable ``code``."""

from __future__ import annotations

import asyncpg
import redis.exceptions

# An outage, not a bad request: the store could not be reached or went away mid-call. asyncpg raises OSError
# subclasses when it cannot connect at all.
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError, OSError,
)
UNREACHABLE = REDIS_UNREACHABLE + DATABASE_UNREACHABLE


class BillingError(Exception):
    code = "billing_error"

    @property
    def message(self) -> str:
        return str(self)


class InsufficientCredits(BillingError):
    code = "insufficient_credits"


class BillingUnavailable(BillingError):
    code = "billing_unavailable"


class RateLimited(BillingError):
    code = "rate_limited"

    def __init__(self, scope: str, retry_after_s: int) -> None:
        super().__init__(f"too many requests ({scope}); retry in {retry_after_s} s")
        self.scope = scope
        self.retry_after_s = retry_after_s


class PaymentProviderError(BillingError):
    code = "payment_provider_error"


class UnknownPlan(BillingError):
    code = "unknown_plan"
