from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from billing.accounts import MILLI, EmailTaken
from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError
from realtime.validation import Email

router = APIRouter(tags=["accounts"])


class CreateAccount(BaseModel):
    email: Email


class CreatedAccount(BaseModel):
    account_id: str
    api_key: str


class AccountView(BaseModel):
    account_id: str
    email: str
    plan: str
    credits: float


@router.post("/v1/accounts", status_code=201, response_model=CreatedAccount)
async def create_account(body: CreateAccount, state: StateDep) -> CreatedAccount:
    try:
        account, key = await state.accounts.create(body.email, state.settings.signup_credits)
    except EmailTaken:
        raise ApiError(409, "email_taken", "an account with this email already exists") from None
    return CreatedAccount(account_id=str(account.id), api_key=key)


@router.get("/v1/account", response_model=AccountView)
async def get_account(account: AccountDep, state: StateDep) -> AccountView:
    # Live: the ledger less usage streamed but not settled yet and what running sessions hold reserved. Without
    # Redis that figure is unknown: BillingUnavailable answers 503 rather than a balance that ignores them.
    balance = await state.billing.metering.available_mc(account.id)
    return AccountView(account_id=str(account.id), email=account.email, plan=account.plan, credits=balance / MILLI)
