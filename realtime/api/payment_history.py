"""``GET /v1/payments``: the account's checkouts and what Mercado Pago said about each."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from billing.pricing import format_brl
from realtime.deps import AccountDep, StateDep
from realtime.storage.web_extras import PaymentRow, payment_history

router = APIRouter(tags=["billing"])


class PaymentView(BaseModel):
    order_id: str
    plan: str
    price_centavos: int
    price: str
    credits: int
    created_at: datetime
    payment_id: str | None
    status: str
    credited: bool
    reversed: bool
    refunded_centavos: int


def _view(r: PaymentRow) -> PaymentView:
    return PaymentView(
        order_id=str(r.order_id), plan=r.plan, price_centavos=r.price_centavos, price=format_brl(r.price_centavos),
        credits=r.credits, created_at=r.created_at, payment_id=r.payment_id,
        status=r.status or "checkout_started", credited=r.granted, reversed=r.reversed,
        refunded_centavos=r.refunded_centavos,
    )


@router.get("/v1/payments", response_model=dict[str, list[PaymentView]])
async def list_payments(account: AccountDep, state: StateDep) -> dict[str, list[PaymentView]]:
    """Newest first (at most 100). ``status`` is Mercado Pago's, or ``checkout_started`` before any payment."""
    return {"payments": [_view(r) for r in await payment_history(state.pool, account.id)]}
