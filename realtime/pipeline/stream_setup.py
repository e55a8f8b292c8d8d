"""What every stream transport refuses the same way at set-up: a client error to answer with an ``error`` event, and
the voice a start message names."""

from __future__ import annotations

import uuid

from billing.accounts import Account
from realtime.state import AppState
from synthesis.interfaces import VoiceReference


class ClientMessageError(Exception):
    """Answered with an ``error`` event; with ``close_code`` the socket is closed after it."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


async def find_voice(state: AppState, account: Account, voice_id: str) -> VoiceReference:
    try:
        parsed = uuid.UUID(voice_id)
    except ValueError:
        parsed = None
    voice = await state.voices.reference(account.id, parsed) if parsed else None
    if voice is None:
        raise ClientMessageError("voice_not_found", f"no voice with id {voice_id!r} in this account")
    return voice
