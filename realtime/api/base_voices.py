"""``GET /v1/base-voices``: the voice each language speaks in when no voice profile is given (and that a profile
adjusts: a base voice nudged toward the customer's, not a clone)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from realtime.deps import StateDep
from synthesis.embedded.base_voices import resolve_base_voices

router = APIRouter(tags=["voices"])


class BaseVoiceView(BaseModel):
    language: str
    engine: str
    voice: str
    origin: str
    licence: str


class BaseVoicesView(BaseModel):
    tts_engine: str
    base_voices: list[BaseVoiceView]
    """Empty when the server's engine (e.g. F5) has no base voices: it speaks only in a profile's voice."""


@router.get("/v1/base-voices", response_model=BaseVoicesView)
async def list_base_voices(state: StateDep) -> BaseVoicesView:
    settings = state.settings
    views: list[BaseVoiceView] = []
    if settings.tts_engine == "embedded":
        for base in resolve_base_voices(settings.embedded_base_voices).values():
            views.append(BaseVoiceView(language=base.language, engine=base.engine, voice=base.voice,
                                       origin=base.origin, licence=base.licence))
    return BaseVoicesView(tts_engine=settings.tts_engine, base_voices=views)
