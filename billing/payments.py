"""Plan purchases through Mercado Pago Checkout Pro, granted and reversed exactly once per payment id.

Each notification only names a payment; the payment's current state is always fetched from Mercado Pago, so
replays, duplicates and out-of-order deliveries converge to the same result. Per payment id one row,
locked while applied, records whether credits were granted and whether the payment was reversed; a
reversal seen first blocks any later grant.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, ValidationError

from billing.config import MercadoPagoConfig
from billing.errors import PaymentProviderError, UnknownPlan
from billing.ledger import Ledger
from billing.mp_gateway import MercadoPagoGateway
from billing.plans import PLANS, Plan
from billing.pricing import MILLI_PER_CREDIT, amount_to_centavos, centavos_to_amount, refund_share_mc
from billing.reservations import ReservationStore

log = logging.getLogger(__name__)

REVERSAL_STATUSES = frozenset({"refunded", "charged_back"})
PLAN_RANK = {"free": 0, "basic": 1, "pro": 2}


class MPPayment(BaseModel):
    """The fields of a Mercado Pago payment that billing relies on."""

    model_config = ConfigDict(extra="ignore")

    id: int | str
    status: str
    external_reference: str | None = None
    transaction_amount: float | int | str | None = None
    transaction_amount_refunded: float | int | str | None = None
    currency_id: str | None = None


@dataclass(slots=True, frozen=True)
class Checkout:
    order_id: uuid.UUID
    preference_id: str
    init_point: str


class PaymentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        ledger: Ledger,
        store: ReservationStore,
        gateway: MercadoPagoGateway,
        config: MercadoPagoConfig,
        plans: dict[str, Plan] | None = None,
    ) -> None:
        self._pool = pool
        self._ledger = ledger
        self._store = store
        self._gateway = gateway
        self._config = config
        self._plans = plans or PLANS

    def paid_plan(self, name: str) -> Plan:
        plan = self._plans.get(name)
        if plan is None or plan.price_centavos <= 0:
            raise UnknownPlan(
                f"no paid plan named {name!r}; choose one of "
                + ", ".join(p.name for p in self._plans.values() if p.price_centavos > 0)
            )
        return plan

    async def checkout(
        self, account_id: uuid.UUID, plan_name: str, client_key: str | None = None
    ) -> Checkout:
        """One order and one Checkout Pro preference; the same ``client_key`` gives the same checkout."""
        plan = self.paid_plan(plan_name)
        row = None
        if client_key:
            row = await self._pool.fetchrow(
                "SELECT id, plan, preference_id, init_point FROM payment_orders WHERE account_id = $1 "
                "AND client_key = $2",
                account_id,
                client_key,
            )
            if row is not None and row["plan"] != plan.name:
                raise UnknownPlan("this Idempotency-Key was already used for another plan")
        if row is None:
            order_id = uuid.uuid4()
            await self._pool.execute(
                "INSERT INTO payment_orders (id, account_id, plan, price_centavos, credits, client_key) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, client_key) DO NOTHING",
                order_id,
                account_id,
                plan.name,
                plan.price_centavos,
                plan.credits,
                client_key,
            )
            row = await self._pool.fetchrow(
                "SELECT id, plan, preference_id, init_point FROM payment_orders WHERE id = $1 OR "
                "(account_id = $2 AND client_key = $3)",
                order_id,
                account_id,
                client_key,
            )
        if row["preference_id"]:
            return Checkout(row["id"], row["preference_id"], row["init_point"])
        order_id = row["id"]
        body = await self._gateway.create_preference(
            self._preference(plan, order_id, account_id), idempotency_key=f"pref-{order_id.hex}"
        )
        preference_id, init_point = str(body.get("id", "")), str(body.get("init_point", ""))
        if not preference_id or not init_point:
            raise PaymentProviderError("Mercado Pago returned a preference without id or init_point")
        await self._pool.execute(
            "UPDATE payment_orders SET preference_id = $2, init_point = $3 WHERE id = $1",
            order_id,
            preference_id,
            init_point,
        )
        return Checkout(order_id, preference_id, init_point)

    def _preference(self, plan: Plan, order_id: uuid.UUID, account_id: uuid.UUID) -> dict[str, Any]:
        pref: dict[str, Any] = {
            "items": [
                {
                    "id": plan.name,
                    "title": f"Dublê {plan.name}: {plan.credits} créditos",
                    "quantity": 1,
                    "currency_id": "BRL",
                    "unit_price": centavos_to_amount(plan.price_centavos),
                }
            ],
            "external_reference": str(order_id),
            "metadata": {"account_id": str(account_id), "plan": plan.name},
        }
        if self._config.notification_url:
            pref["notification_url"] = self._config.notification_url
        if self._config.back_url:
            pref["back_urls"] = {k: self._config.back_url for k in ("success", "pending", "failure")}
        return pref

    async def handle_notification(self, payment_id: str) -> str:
        """Apply the current state of one payment; returns what happened (for logs and tests)."""
        raw = await self._gateway.get_payment(payment_id)
        if raw is None:
            return "unknown_payment"
        try:
            payment = MPPayment.model_validate(raw)
        except ValidationError:
            raise PaymentProviderError("Mercado Pago returned a payment without id or status") from None
        if str(payment.id) != payment_id:
            return "id_mismatch"
        try:
            order_id = uuid.UUID(payment.external_reference or "")
        except ValueError:
            return "unknown_order"
        order = await self._pool.fetchrow(
            "SELECT id, account_id, plan, price_centavos, credits FROM payment_orders WHERE id = $1", order_id
        )
        if order is None:
            return "unknown_order"
        try:
            amount = amount_to_centavos(payment.transaction_amount)
        except ValueError:
            amount = -1
        try:
            refunded = amount_to_centavos(payment.transaction_amount_refunded or 0)
        except ValueError:
            refunded = 0
        outcome = await self._apply(payment_id, payment.status, amount, refunded, payment.currency_id, order)
        if outcome in ("granted", "reversed", "partially_refunded"):
            await self._store.invalidate(str(order["account_id"]))
        return outcome

    async def _apply(
        self, payment_id: str, status: str, amount: int, refunded: int, currency: str | None,
        order: asyncpg.Record,
    ) -> str:
        account_id: uuid.UUID = order["account_id"]
        credits_mc = int(order["credits"]) * MILLI_PER_CREDIT
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO payments (payment_id, order_id, account_id, status, amount_centavos) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING",
                payment_id,
                order["id"],
                account_id,
                status,
                amount,
            )
            row = await conn.fetchrow(
                "SELECT order_id, granted, reversed, refunded_centavos, reversed_mc FROM payments "
                "WHERE payment_id = $1 FOR UPDATE",
                payment_id,
            )
            if row["order_id"] != order["id"]:
                return "order_mismatch"
            await conn.execute(
                "UPDATE payments SET status = $2, amount_centavos = $3, updated_at = now() "
                "WHERE payment_id = $1",
                payment_id,
                status,
                amount,
            )
            details = {"payment_id": payment_id, "order_id": str(order["id"]), "plan": order["plan"]}
            granted, outcome = bool(row["granted"]), "unchanged"
            if status == "approved" and not granted and not row["reversed"]:
                if amount != order["price_centavos"] or currency != "BRL":
                    log.warning(
                        "payment %s amount/currency does not match its order; not granted", payment_id
                    )
                    return "amount_mismatch"
                await self._ledger.append(
                    account_id, "purchase", credits_mc, f"purchase:{payment_id}", details, conn=conn
                )
                await conn.execute("UPDATE payments SET granted = true WHERE payment_id = $1", payment_id)
                await self._refresh_plan(conn, account_id)
                granted, outcome = True, "granted"
            fully_refunded = status in REVERSAL_STATUSES or refunded >= order["price_centavos"]
            if fully_refunded and not row["reversed"]:
                await conn.execute("UPDATE payments SET reversed = true WHERE payment_id = $1", payment_id)
                if not granted:
                    return "blocked"
                # Whatever partial refunds already took back is not taken twice.
                if (rest_mc := credits_mc - int(row["reversed_mc"])) > 0:
                    await self._ledger.append(
                        account_id,
                        "refund",
                        -rest_mc,
                        f"reversal:{payment_id}",
                        {**details, "reason": status if status in REVERSAL_STATUSES else "refunded"},
                        conn=conn,
                    )
                await conn.execute(
                    "UPDATE payments SET reversed_mc = $2 WHERE payment_id = $1", payment_id, credits_mc
                )
                await self._refresh_plan(conn, account_id)
                return "reversed"
            if granted and not row["reversed"] and refunded > row["refunded_centavos"]:
                target_mc = refund_share_mc(credits_mc, order["price_centavos"], refunded)
                if (delta_mc := target_mc - int(row["reversed_mc"])) > 0:
                    await self._ledger.append(
                        account_id,
                        "refund",
                        -delta_mc,
                        f"partial-refund:{payment_id}:{refunded}",
                        {**details, "reason": "partially_refunded", "refunded_centavos": refunded},
                        conn=conn,
                    )
                # refund_share_mc grows with the refunded amount, so target_mc never falls below what was taken.
                await conn.execute(
                    "UPDATE payments SET refunded_centavos = $2, reversed_mc = $3 WHERE payment_id = $1",
                    payment_id, refunded, target_mc,
                )
                if outcome == "unchanged":
                    outcome = "partially_refunded"
            return outcome

    async def _refresh_plan(self, conn: asyncpg.Connection, account_id: uuid.UUID) -> None:
        """The account's plan is the best plan among its purchases that stand (granted, not reversed)."""
        plans = await conn.fetch(
            "SELECT DISTINCT o.plan FROM payments p JOIN payment_orders o ON o.id = p.order_id "
            "WHERE p.account_id = $1 AND p.granted AND NOT p.reversed",
            account_id,
        )
        best = max((r["plan"] for r in plans), key=lambda name: PLAN_RANK.get(name, 0), default="free")
        await conn.execute("UPDATE accounts SET plan = $2 WHERE id = $1", account_id, best)
