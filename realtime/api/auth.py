"""``/v1/auth/*``: e-mail + password accounts for the web app (session cookie), log-in by key, log-out, password."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from billing.accounts import Account, EmailTaken
from billing.errors import RateLimited
from realtime.api.auth_models import KeyLogIn, LogIn, SessionView, SetPassword, SignUp
from realtime.auth.web import CsrfRejected, check_csrf, clear_session_cookie, session_of, set_session_cookie
from realtime.deps import AuthDep, StateDep
from realtime.errors import ApiError
from realtime.state import AppState

router = APIRouter(tags=["web accounts"])
log = logging.getLogger(__name__)

_BAD_LOGIN = "wrong e-mail or password"


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _limit_login(state: AppState, request: Request, email: str | None) -> None:
    """Per IP and per e-mail; fails closed (503) when Redis cannot count, unlike sign-up and uploads."""
    try:
        await state.billing.limiter.enforce("login", api_key=email.lower() if email else None, ip=_ip(request))
    except RateLimited as exc:
        raise ApiError(429, exc.code, exc.message, headers={"Retry-After": str(max(1, exc.retry_after_s))}) from None
    except Exception:
        log.warning("rate limiter unavailable for log-in", exc_info=True)
        raise ApiError(503, "login_unavailable", "log-in is unavailable for a moment; retry later") from None


async def _limit_signup(state: AppState, request: Request) -> None:
    try:
        await state.billing.limiter.enforce("signup", ip=_ip(request))
    except RateLimited as exc:
        raise ApiError(429, exc.code, exc.message, headers={"Retry-After": str(max(1, exc.retry_after_s))}) from None
    except Exception:
        log.warning("rate limiter unavailable for sign-up", exc_info=True)


async def _start_session(state: AppState, account: Account, status: int = 200) -> JSONResponse:
    token, csrf = await state.web.sessions.create(account.id)
    has_password = await state.web.credentials.password_hash(account.id) is not None
    view = SessionView(account_id=str(account.id), email=account.email, plan=account.plan,
                       has_password=has_password, csrf_token=csrf)
    response = JSONResponse(view.model_dump(), status_code=status)
    set_session_cookie(response, token, secure=state.web.secure_cookies)
    return response


@router.post("/v1/auth/signup", status_code=201, response_model=SessionView)
async def sign_up(body: SignUp, request: Request, state: StateDep) -> JSONResponse:
    """A new account with a password; answers with the session cookie set (no API key: create one later)."""
    await _limit_signup(state, request)
    password_hash = await state.web.passwords.hash(body.password)
    try:
        account, _ = await state.accounts.create(body.email.strip(), state.settings.signup_credits, password_hash)
    except EmailTaken:
        raise ApiError(409, "email_taken", "an account with this email already exists; log in instead") from None
    # The store hands every new account a key; nobody saw this one, so it must not linger as a live credential.
    await state.web.credentials.drop_keys(account.id)
    return await _start_session(state, account, 201)


@router.post("/v1/auth/login", response_model=SessionView)
async def log_in(body: LogIn, request: Request, state: StateDep) -> JSONResponse:
    await _limit_login(state, request, body.email.strip())
    found = await state.web.credentials.by_email(body.email.strip())
    stored = found.password_hash if found else None
    if found is None or not await state.web.passwords.verify(stored, body.password):
        raise ApiError(401, "invalid_credentials", _BAD_LOGIN)
    if stored is not None and state.web.passwords.needs_rehash(stored):
        await state.web.credentials.set_password_hash(found.account.id, await state.web.passwords.hash(body.password))
    return await _start_session(state, found.account)


@router.post("/v1/auth/key-login", response_model=SessionView)
async def log_in_with_key(body: KeyLogIn, request: Request, state: StateDep) -> JSONResponse:
    """For accounts made with ``POST /v1/accounts`` (key only): log in with the key, then set a password."""
    await _limit_login(state, request, None)
    account = await state.accounts.by_api_key(body.api_key.strip())
    if account is None:
        raise ApiError(401, "invalid_credentials", "unknown or revoked API key")
    return await _start_session(state, account)


@router.get("/v1/auth/session", response_model=SessionView)
async def current_session(request: Request, state: StateDep) -> dict[str, Any]:
    """The logged-in account and the CSRF token the page must send on every POST/PATCH/DELETE."""
    session = await session_of(request, state.web)
    if session is None:
        raise ApiError(401, "not_logged_in", "no valid session cookie")
    has_password = await state.web.credentials.password_hash(session.account.id) is not None
    return SessionView(account_id=str(session.account.id), email=session.account.email, plan=session.account.plan,
                       has_password=has_password, csrf_token=session.csrf_token).model_dump()


@router.post("/v1/auth/logout", status_code=204)
async def log_out(request: Request, state: StateDep) -> Response:
    session = await session_of(request, state.web)
    if session is not None:
        try:
            check_csrf(request, request.method, session)
        except CsrfRejected:
            raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token header") from None
        await state.web.sessions.delete(session.token_hash)
    response = Response(status_code=204)
    clear_session_cookie(response, secure=state.web.secure_cookies)
    return response


@router.post("/v1/auth/password", status_code=204)
async def set_password(body: SetPassword, auth: AuthDep, request: Request, state: StateDep) -> Response:
    """Set or change the password. From a session, changing an existing one needs ``current_password``."""
    web = state.web
    stored = await web.credentials.password_hash(auth.account.id)
    if stored is not None and auth.via == "session":
        if body.current_password is None:
            raise ApiError(422, "current_password_required", "send current_password to change the password")
        await _limit_login(state, request, auth.account.email)
        if not await web.passwords.verify(stored, body.current_password):
            raise ApiError(403, "wrong_password", "current_password is wrong")
    await web.credentials.set_password_hash(auth.account.id, await web.passwords.hash(body.password))
    await web.sessions.delete_all(auth.account.id, keep=auth.session.token_hash if auth.session else None)
    return Response(status_code=204)
