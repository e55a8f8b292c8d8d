"""API keys: random, shown once, stored as a SHA-256 digest (they carry 256 bits, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "dbl_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()
