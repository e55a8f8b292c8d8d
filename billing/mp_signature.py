"""Mercado Pago webhook signatures (pure: the clock is an argument).

Header ``x-signature: ts=<ts>,v1=<hex>``; ``v1`` is HMAC-SHA256 (hex) with the webhook secret over the
manifest ``id:<data.id>;request-id:<x-request-id>;ts:<ts>;`` where data.id comes from the query string,
lowercased, and absent parts are left out.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

# Mercado Pago documents ``ts`` in seconds but has also sent milliseconds; this large means milliseconds.
_MS_THRESHOLD = 10**11


@dataclass(slots=True, frozen=True)
class SignatureCheck:
    ok: bool
    reason: str = ""


def manifest(data_id: str | None, request_id: str | None, ts: str) -> str:
    parts = []
    if data_id:
        parts.append(f"id:{data_id.lower()};")
    if request_id:
        parts.append(f"request-id:{request_id};")
    parts.append(f"ts:{ts};")
    return "".join(parts)


def sign(secret: str, data_id: str | None, request_id: str | None, ts: str) -> str:
    return hmac.new(secret.encode(), manifest(data_id, request_id, ts).encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, data_id: str | None, request_id: str | None, ts: int) -> str:
    return f"ts={ts},v1={sign(secret, data_id, request_id, str(ts))}"


def _parse(header: str) -> tuple[str | None, str | None]:
    ts = v1 = None
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key.strip() == "ts":
            ts = value.strip()
        elif key.strip() == "v1":
            v1 = value.strip().lower()
    return ts, v1


def verify(
    header: str | None,
    request_id: str | None,
    data_id: str | None,
    secret: str,
    *,
    now_s: int,
    tolerance_s: int,
) -> SignatureCheck:
    """Check a notification's signature and freshness. Never raises on bad input."""
    if not secret:
        return SignatureCheck(False, "webhook secret not configured")
    if not header or not header.strip():
        return SignatureCheck(False, "missing x-signature")
    ts, v1 = _parse(header)
    if not ts or not ts.isdigit() or not v1:
        return SignatureCheck(False, "malformed x-signature")
    expected = sign(secret, (data_id or "").strip() or None, (request_id or "").strip() or None, ts)
    if not hmac.compare_digest(expected, v1):
        return SignatureCheck(False, "signature mismatch")
    ts_s = int(ts) // 1000 if int(ts) >= _MS_THRESHOLD else int(ts)
    if abs(now_s - ts_s) > tolerance_s:
        return SignatureCheck(False, "stale timestamp")
    return SignatureCheck(True)
