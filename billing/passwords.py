"""Password hashing with argon2id, off the event loop and with a bound on concurrent hashes (each takes ~64 MiB)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Verified when an e-mail has no password, so a miss costs the same time as a wrong password.
_DUMMY_PASSWORD = "not-a-password-of-anyone"


class Passwords:
    def __init__(self, *, max_concurrent: int = 2) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; a missing hash is checked against a dummy, and is never a match."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored_hash or self._dummy_hash, password)) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(stored_hash))
