"""Billing over HTTP: plans, usage, Mercado Pago checkout and webhook, and rate limits for sign-up and uploads."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from billing import mp_signature
from billing.config import BillingConfig, MercadoPagoConfig, RateLimitConfig
from billing.errors import PaymentProviderError, RateLimited, UnknownPlan
from billing.plans import PLANS
from billing.pricing import OPERATIONS, Rates, credits_from_millicredits, format_brl
from billing.runtime import BillingServices
from realtime.auth.web import session_of
from realtime.config import Settings
from realtime.deps import AccountDep, StateDep, bearer_token
from realtime.errors import ApiError, error_body
from realtime.validation import Key

router = APIRouter(tags=["billing"])
log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 15.0  # Mercado Pago gives up on an answer after 22 s and retries later
MAX_USAGE_RANGE = timedelta(days=366)


def billing_config(s: Settings) -> BillingConfig:
    base = s.public_base_url.rstrip("/")
    return BillingConfig(
        redis_prefix=s.redis_prefix,
        rates=Rates(s.price_tts_credits_per_min, s.price_conversion_credits_per_min, s.price_tts_rvc_credits_per_min),
        quantum_ms=s.billing_quantum_ms,
        settle_interval_s=s.billing_settle_interval_s,
        rate_limits=RateLimitConfig(
            enabled=s.rate_limits_enabled, window_s=s.rate_limit_window_s, signups_per_ip=s.rate_signups_per_ip,
            session_starts_per_key=s.rate_session_starts_per_key, session_starts_per_ip=s.rate_session_starts_per_ip,
            uploads_per_key=s.rate_uploads_per_key, uploads_per_ip=s.rate_uploads_per_ip,
            paid_plan_multiplier=s.rate_paid_plan_multiplier,
            logins_per_email=s.rate_logins_per_email, logins_per_ip=s.rate_logins_per_ip,
        ),
        mercadopago=MercadoPagoConfig(
            access_token=s.mercadopago_access_token.get_secret_value(),
            webhook_secret=s.mercadopago_webhook_secret.get_secret_value(),
            base_url=s.mercadopago_base_url, timeout_s=s.mercadopago_timeout_s,
            webhook_tolerance_s=s.mercadopago_webhook_tolerance_s,
            notification_url=f"{base}/v1/payments/webhook?source_news=webhooks",
            back_url=s.mercadopago_back_url or f"{base}/app/payment",
        ),
    )


async def start_billing(settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis) -> BillingServices:
    return await BillingServices.start(billing_config(settings), pool, redis)


def _billing(state: Any) -> BillingServices:
    services: BillingServices = state.billing
    return services


# plans and usage ------------------------------------------------------------------------------------------
@router.get("/v1/plans")
async def list_plans(state: StateDep) -> dict[str, Any]:
    s = state.settings
    plans = []
    for plan in PLANS.values():
        credits = s.signup_credits if plan.name == "free" else plan.credits
        voices = s.free_plan_voices if plan.name == "free" else plan.max_voices
        plans.append({"name": plan.name, "price_centavos": plan.price_centavos, "currency": "BRL",
                      "price": format_brl(plan.price_centavos), "credits": credits, "max_voices": voices})
    rates = _billing(state).config.rates
    prices = {op: {"credits_per_minute": rates.millicredits_per_min(op) // 1000} for op in OPERATIONS}
    return {"plans": plans, "prices": prices, "billing_quantum_ms": _billing(state).config.quantum_ms,
            "payments_enabled": bool(_billing(state).config.mercadopago.access_token)}


def _usage_item(audio_ms: int, charged_mc: int) -> dict[str, float]:
    return {"seconds": audio_ms / 1000, "credits": credits_from_millicredits(charged_mc)}


@router.get("/v1/usage")
async def usage(
    account: AccountDep,
    state: StateDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Settled usage (written every few seconds while a session runs) per operation and per tag."""
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(days=30)
    if start >= end:
        raise ApiError(422, "invalid_range", "'from' must be before 'to'")
    if end - start > MAX_USAGE_RANGE:
        raise ApiError(422, "invalid_range", "the range may span at most 366 days")
    rows = await _billing(state).ledger.usage(account.id, start, end)
    ops: dict[str, list[int]] = {}
    tags: dict[str, list[int]] = {}
    for r in rows:
        ops.setdefault(r.operation, [0, 0])
        ops[r.operation][0] += r.audio_ms
        ops[r.operation][1] += r.charged_mc
        if r.tag:
            tags.setdefault(r.tag, [0, 0])
            tags[r.tag][0] += r.audio_ms
            tags[r.tag][1] += r.charged_mc
    total = [sum(v[0] for v in ops.values()), sum(v[1] for v in ops.values())]
    return {
        "from": start.isoformat(), "to": end.isoformat(), "total": _usage_item(*total),
        "operations": [{"operation": k, **_usage_item(*v)} for k, v in sorted(ops.items())],
        "tags": [{"tag": k, **_usage_item(*v)} for k, v in sorted(tags.items())],
        "by_operation_and_tag": [{"operation": r.operation, "tag": r.tag, **_usage_item(r.audio_ms, r.charged_mc)}
                                 for r in rows],
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# payments ---------------------------------------------------------------------------------------------------
class CheckoutRequest(BaseModel):
    plan: Key


@router.post("/v1/payments/checkout")
async def checkout(
    body: CheckoutRequest,
    account: AccountDep,
    state: StateDep,
    idempotency_key: Annotated[Key | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, str]:
    """A Checkout Pro preference for a plan; send ``Idempotency-Key`` to make retries return the same one."""
    if not _billing(state).config.mercadopago.access_token:
        raise ApiError(503, "payments_not_configured", "payments are not enabled on this server")
    try:
        result = await _billing(state).payments.checkout(account.id, body.plan, idempotency_key or None)
    except UnknownPlan as exc:
        raise ApiError(422, exc.code, exc.message) from None
    except PaymentProviderError as exc:
        raise ApiError(502, exc.code, exc.message) from None
    return {"preference_id": result.preference_id, "init_point": result.init_point, "order_id": str(result.order_id)}


@router.post("/v1/payments/webhook")
async def payments_webhook(request: Request, state: StateDep) -> dict[str, str]:
    """Mercado Pago notifications: verified first (x-signature), then the payment is fetched and applied."""
    services = _billing(state)
    mp = services.config.mercadopago
    data_id = request.query_params.get("data.id")
    check = mp_signature.verify(
        request.headers.get("x-signature"), request.headers.get("x-request-id"), data_id, mp.webhook_secret,
        now_s=int(time.time()), tolerance_s=mp.webhook_tolerance_s,
    )
    if not check.ok:
        code = "stale_signature" if check.reason == "stale timestamp" else "invalid_signature"
        raise ApiError(401, code, check.reason)
    kind = request.query_params.get("type") or request.query_params.get("topic") or _body_type(await request.body())
    if kind != "payment" or not data_id:
        return {"status": "ignored"}
    try:
        async with asyncio.timeout(WEBHOOK_TIMEOUT_S):
            outcome = await services.payments.handle_notification(data_id)
    except (PaymentProviderError, TimeoutError) as exc:
        log.warning("webhook for payment %s not applied: %s", data_id, type(exc).__name__)
        raise ApiError(502, "payment_provider_error", "could not read the payment; retry later") from None
    return {"status": outcome}


def _body_type(raw: bytes) -> str | None:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


# rate limits for HTTP endpoints (streaming transports call BillingServices.start_session) ---------------------
_LIMITED = {("POST", "/v1/accounts"): "signup", ("POST", "/v1/voices"): "upload"}


def _limited_action(method: str, path: str) -> str | None:
    if method == "POST" and path.startswith("/v1/voices/") and path.endswith("/rvc-model"):
        return "upload"
    return _LIMITED.get((method, path))


class RateLimitMiddleware:
    """429 ``rate_limited`` for sign-ups (per IP) and voice and RVC model uploads (per API key and per IP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        action = _limited_action(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        state = getattr(scope["app"].state, "duble", None) if action else None
        if action is None or state is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = bearer_token(request) if action != "signup" else None
        ip = request.client.host if request.client else None
        try:
            account = await state.accounts.by_api_key(token) if token else None
            subject = token if account else None
            if action != "signup" and token is None and (session := await session_of(request, state.web)):
                account, subject = session.account, str(session.account.id)  # the web app: counted per account
            await _billing(state).limiter.enforce(
                action, api_key=subject, ip=ip, paid=bool(account and account.plan != "free"))
        except RateLimited as exc:
            await _reject(send, exc)
            return
        except Exception as exc:
            # Rate limiting fails open: a Redis outage must not take sign-up and uploads down with it (and a
            # PostgreSQL outage is answered by the endpoint itself, 503).
            log.warning("rate limiter unavailable (%s)", type(exc).__name__)
        await self.app(scope, receive, send)


async def _reject(send: Send, exc: RateLimited) -> None:
    body = orjson.dumps(error_body(exc.code, exc.message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(max(1, exc.retry_after_s)).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
