"""Request dependencies: app state and the authenticated account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from billing.accounts import Account
from realtime.errors import ApiError
from realtime.state import AppState


def app_state(request: HTTPConnection) -> AppState:
    state: AppState = request.app.state.duble
    return state


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def current_account(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Account:
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthorized", "missing 'Authorization: Bearer <api_key>' header",
                       headers={"WWW-Authenticate": "Bearer"})
    account = await state.accounts.by_api_key(token)
    if account is None:
        raise ApiError(401, "unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return account


StateDep = Annotated[AppState, Depends(app_state)]
AccountDep = Annotated[Account, Depends(current_account)]
