"""How the web app authenticates: a session cookie, a CSRF token on state-changing requests, Origin on WebSockets.

CSRF: the session cookie is SameSite=Lax, so browsers already leave it off cross-site POSTs; on top of that every
cookie-authenticated request other than GET/HEAD/OPTIONS must carry ``X-CSRF-Token`` equal to the token stored
with the session (a synchronizer token, handed to the page's own scripts by ``GET /v1/auth/session``, which no other
origin can read). That also covers old browsers without SameSite and sibling sub-domains. Bearer-key requests carry
no ambient credential and need no token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from billing.accounts import Account, AccountStore
from billing.passwords import Passwords
from realtime.auth.credentials import CredentialStore
from realtime.auth.sessions import SESSION_TTL, WebSession, WebSessionStore

SESSION_COOKIE = "duble_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True, frozen=True)
class WebAuth:
    sessions: WebSessionStore
    credentials: CredentialStore
    passwords: Passwords
    secure_cookies: bool


@dataclass(slots=True, frozen=True)
class Authenticated:
    account: Account
    via: Literal["api_key", "session"]
    session: WebSession | None = None


class CsrfRejected(Exception):
    pass


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=secure)


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


async def session_of(conn: HTTPConnection, web: WebAuth) -> WebSession | None:
    token = conn.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    return await web.sessions.resolve(token)


def check_csrf(conn: HTTPConnection, method: str, session: WebSession) -> None:
    if method.upper() in SAFE_METHODS:
        return
    sent = conn.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise CsrfRejected


def same_origin(conn: HTTPConnection, public_base_url: str) -> bool:
    """True when the handshake's Origin is this server (its Host header or its public base URL)."""
    origin = conn.headers.get("origin")
    if not origin:
        return False
    netloc = urlsplit(origin).netloc.lower()
    host = conn.headers.get("host", "").lower()
    return bool(netloc) and (netloc == host or netloc == urlsplit(public_base_url).netloc.lower())


async def authenticate_http(conn: HTTPConnection, method: str, token: str | None, accounts: AccountStore,
                            web: WebAuth) -> Authenticated | None:
    """Bearer key first, then the session cookie (with its CSRF check for state-changing methods)."""
    if token is not None:
        account = await accounts.by_api_key(token)
        return Authenticated(account, "api_key") if account else None
    session = await session_of(conn, web)
    if session is None:
        return None
    check_csrf(conn, method, session)
    return Authenticated(session.account, "session", session)
