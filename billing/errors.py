"""Errors billing raises to its callers; each carries a stable machine-readable ``code``."""

from __future__ import annotations

import socket

import asyncpg
import redis.exceptions

# An outage, not a bad request: the store could not be reached or went away mid-call. asyncpg raises the
# socket's own errors (refused, reset, timed out, unknown host) when it cannot connect at all. Not every OSError:
# a client that disconnects is one too, and is no outage.
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError, ConnectionError, TimeoutError, socket.gaierror,
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
