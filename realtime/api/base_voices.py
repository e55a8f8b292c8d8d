"""``GET /v1/base-voices``: the voice each language speaks in when no voice profile is given (and that a profile
adjusts: a base voice nudged toward the customer's, not a clone)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from realtime.deps import StateDep
from synthesis.embedded.base_voices import BaseVoice, resolve_alternates, resolve_base_voices

router = APIRouter(tags=["voices"])


class BaseVoiceView(BaseModel):
    language: str
    role: Literal["default", "alternate"]
    """``default`` speaks with no voice profile; a profile speaks through the default or an alternate, whichever has
    the median pitch nearest its own."""
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
        defaults = resolve_base_voices(settings.embedded_base_voices)
        alternates = resolve_alternates(defaults, settings.embedded_alternate_base_voices)
        bases: list[tuple[Literal["default", "alternate"], BaseVoice]] = [("default", b) for b in defaults.values()]
        bases += [("alternate", b) for language_bases in alternates.values() for b in language_bases]
        for role, base in bases:
            views.append(BaseVoiceView(language=base.language, role=role, engine=base.engine, voice=base.voice,
                                       origin=base.origin, licence=base.licence))
    return BaseVoicesView(tts_engine=settings.tts_engine, base_voices=views)
