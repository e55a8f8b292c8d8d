"""Request dependencies: app state and the authenticated account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from billing.accounts import Account
from realtime.auth.web import SESSION_COOKIE, Authenticated, CsrfRejected, authenticate_http
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


# Declare the two schemes in OpenAPI only; current_auth reads the credentials itself.
_BEARER_SCHEME = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer dbl_…`")
_COOKIE_SCHEME = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                              description="the web app's session (state-changing requests also need X-CSRF-Token)")


async def current_auth(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER_SCHEME)],
    _cookie: Annotated[str | None, Depends(_COOKIE_SCHEME)],
) -> Authenticated:
    """The caller: an API key (``Authorization: Bearer``) or the web app's session cookie."""
    token = bearer_token(request)
    try:
        auth = await authenticate_http(request, request.method, token, state.accounts, state.web)
    except CsrfRejected:
        raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token header (get it from "
                       "GET /v1/auth/session)") from None
    if auth is None and token is None:
        raise ApiError(401, "unauthorized", "missing 'Authorization: Bearer <api_key>' header",
                       headers={"WWW-Authenticate": "Bearer"})
    if auth is None:
        raise ApiError(401, "unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return auth


async def current_account(auth: Annotated[Authenticated, Depends(current_auth)]) -> Account:
    return auth.account


StateDep = Annotated[AppState, Depends(app_state)]
AccountDep = Annotated[Account, Depends(current_account)]
AuthDep = Annotated[Authenticated, Depends(current_auth)]
