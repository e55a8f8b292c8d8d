"""Typed billing configuration (built from Settings by the realtime side)."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.pricing import Rates


@dataclass(slots=True, frozen=True)
class RateLimitConfig:
    """Allowed events per ``window_s`` per subject; paid plans get ``paid_plan_multiplier`` x per key."""

    enabled: bool = True
    window_s: int = 60
    signups_per_ip: int = 100
    session_starts_per_key: int = 60
    session_starts_per_ip: int = 600
    uploads_per_key: int = 60
    uploads_per_ip: int = 600
    paid_plan_multiplier: int = 5
    logins_per_email: int = 10
    logins_per_ip: int = 30


@dataclass(slots=True, frozen=True)
class MercadoPagoConfig:
    access_token: str = ""
    webhook_secret: str = ""
    base_url: str = "https://api.mercadopago.com"
    timeout_s: float = 5.0
    max_retries: int = 1
    webhook_tolerance_s: int = 300
    notification_url: str = ""
    back_url: str = ""


@dataclass(slots=True, frozen=True)
class BillingConfig:
    redis_prefix: str = "duble:"
    rates: Rates = field(default_factory=Rates)
    # A session reserves this much audio ahead at a time: the most one session can overdraw if its transport
    # charges whole chunks without asking first.
    quantum_ms: int = 1000
    settle_interval_s: float = 5.0
    # A process that has not refreshed its heartbeat (every second) for this long is dead; peers settle its
    # sessions at their next settlement round, so within owner_ttl_s + settle_interval_s of the crash.
    owner_ttl_s: float = 15.0
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    mercadopago: MercadoPagoConfig = field(default_factory=MercadoPagoConfig)
