from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from billing.plans import voice_limit
from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError
from realtime.validation import ReferenceText, VoiceName
from realtime.voices.reference_audio import ReferenceAudioError, prepare_reference
from realtime.voices.store import Voice, VoiceLimitReached
from synthesis.interfaces import LANGUAGES, EngineError, VoiceReference

_log = logging.getLogger(__name__)
router = APIRouter(tags=["voices"])

_MULTIPART_OVERHEAD_BYTES = 64 * 1024
_READ_CHUNK = 1 << 20


class VoiceView(BaseModel):
    id: str
    name: str
    language: str
    duration_s: float
    reference_text: str | None
    created_at: datetime


def _view(v: Voice) -> VoiceView:
    return VoiceView(
        id=str(v.id), name=v.name, language=v.language, duration_s=v.duration_ms / 1000,
        reference_text=v.reference_text, created_at=v.created_at,
    )


def _parse_id(voice_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(voice_id)
    except ValueError:
        raise ApiError(404, "voice_not_found", "no such voice") from None


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    buf = bytearray()
    while chunk := await upload.read(_READ_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise ApiError(413, "payload_too_large", f"audio file is larger than {limit // (1024 * 1024)} MB")
    return bytes(buf)


@router.post("/v1/voices", status_code=201, response_model=VoiceView)
async def create_voice(
    request: Request,
    account: AccountDep,
    state: StateDep,
    name: Annotated[VoiceName, Form()],
    language: Annotated[str, Form()],
    audio: Annotated[UploadFile, File()],
    reference_text: Annotated[ReferenceText | None, Form()] = None,
) -> VoiceView:
    limit = state.settings.max_upload_bytes
    if language not in LANGUAGES:
        raise ApiError(422, "invalid_language", f"language must be one of {', '.join(LANGUAGES)}")
    text = reference_text or None
    if state.settings.tts_engine == "f5" and text is None:
        raise ApiError(422, "reference_text_required", "reference_text is required: the F5 engine needs the words "
                       "spoken in the reference audio")
    data = await _read_limited(audio, limit)
    if not data:
        raise ApiError(422, "invalid_audio", "the audio file is empty")
    settings = state.settings
    try:
        ref = await asyncio.to_thread(prepare_reference, data, min_s=settings.voice_min_s, max_s=settings.voice_max_s)
    except ReferenceAudioError as exc:
        raise ApiError(422, exc.code, exc.message) from None
    try:
        voice = await state.voices.create(account.id, name, language, text, ref, voice_limit(account.plan))
    except VoiceLimitReached as exc:
        raise ApiError(409, "voice_limit_reached",
                       f"the {account.plan} plan allows {exc.args[0]} voices; delete one or upgrade") from None
    reference = VoiceReference(voice_id=str(voice.id), language=language, samples=ref.samples,
                               sample_rate_hz=ref.sample_rate_hz, reference_text=text)
    try:
        await state.tts_engine.prepare_voice(reference)
    except EngineError as exc:  # the voice is kept: its streams report the same error, as before
        _log.warning("voice %s uploaded but not prepared: %s", voice.id, exc.code)
    return _view(voice)


@router.get("/v1/voices", response_model=dict[str, list[VoiceView]])
async def list_voices(account: AccountDep, state: StateDep) -> dict[str, list[VoiceView]]:
    return {"voices": [_view(v) for v in await state.voices.list(account.id)]}


@router.get("/v1/voices/{voice_id}", response_model=VoiceView)
async def get_voice(voice_id: str, account: AccountDep, state: StateDep) -> VoiceView:
    voice = await state.voices.get(account.id, _parse_id(voice_id))
    if voice is None:
        raise ApiError(404, "voice_not_found", "no such voice")
    return _view(voice)


@router.delete("/v1/voices/{voice_id}", status_code=204)
async def delete_voice(voice_id: str, account: AccountDep, state: StateDep) -> Response:
    if not await state.voices.delete(account.id, _parse_id(voice_id)):
        raise ApiError(404, "voice_not_found", "no such voice")
    return Response(status_code=204)
