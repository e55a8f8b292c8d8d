"""``GET /v1/voices/{id}/audio`` (the kept reference as WAV) and ``PATCH /v1/voices/{id}`` (rename)."""

from __future__ import annotations

import io
import uuid
import wave

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from realtime.api.voices import VoiceView, get_voice
from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError
from realtime.storage.web_extras import rename_voice, voice_pcm
from realtime.validation import VoiceName

router = APIRouter(tags=["voices"])


class RenameVoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: VoiceName


def _parse_id(voice_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(voice_id)
    except ValueError:
        raise ApiError(404, "voice_not_found", "no such voice") from None


def wav_bytes(pcm_s16le: bytes, sample_rate_hz: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate_hz)
        w.writeframes(pcm_s16le)
    return buf.getvalue()


@router.get("/v1/voices/{voice_id}/audio", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}, "description": "mono 16-bit WAV"}})
async def voice_audio(voice_id: str, account: AccountDep, state: StateDep) -> Response:
    """The reference as it is kept (trimmed, mono, normalized)."""
    found = await voice_pcm(state.pool, account.id, _parse_id(voice_id))
    if found is None:
        raise ApiError(404, "voice_not_found", "no such voice")
    return Response(wav_bytes(found.pcm_s16le, found.sample_rate_hz), media_type="audio/wav",
                    headers={"Cache-Control": "private, no-store"})


@router.patch("/v1/voices/{voice_id}", response_model=VoiceView)
async def rename(voice_id: str, body: RenameVoice, account: AccountDep, state: StateDep) -> VoiceView:
    parsed = _parse_id(voice_id)
    if not await rename_voice(state.pool, account.id, parsed, body.name):
        raise ApiError(404, "voice_not_found", "no such voice")
    return await get_voice(voice_id, account, state)
