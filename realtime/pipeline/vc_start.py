"""The live-conversion start message and converter choice, shared by the WebSocket and WebRTC transports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.accounts import Account
from realtime.pipeline.broadcast import CHANNEL_PATTERN
from realtime.pipeline.stream_setup import ClientMessageError, find_voice
from realtime.pipeline.vc_converters import ConverterRequest, EngineChoice
from realtime.state import AppState
from realtime.validation import Tag
from synthesis.interfaces import Converter, EngineError

VC_SAMPLE_RATES = (16000, 24000, 48000)
BILLING_OPERATION = "conversion"


class VCStartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["start"]
    voice_id: str
    sample_rate: int = 16000
    format: Literal["pcm_s16le"] = "pcm_s16le"
    pitch_shift: float = Field(default=0.0, ge=-12, le=12)
    block_ms: int | None = Field(default=None, ge=20, le=1000)
    engine: EngineChoice = "auto"
    tag: Tag | None = None
    broadcast: str | None = Field(default=None, pattern=CHANNEL_PATTERN)  # relay to /v1/tts/listen listeners


def block_ms(converter: Converter) -> float | None:
    samples = getattr(converter, "block_samples", None)
    return round(1000 * samples / converter.sample_rate_hz, 1) if isinstance(samples, int) else None


async def open_converter(state: AppState, account: Account, msg: VCStartMessage) -> Converter:
    """Voice lookup and converter construction shared by the WebSocket and WebRTC transports."""
    if msg.sample_rate not in VC_SAMPLE_RATES:
        raise ClientMessageError("invalid_sample_rate",
                                 f"sample_rate must be one of {', '.join(map(str, VC_SAMPLE_RATES))}")
    voice = await find_voice(state, account, msg.voice_id)
    try:
        return await state.vc.build(account.id, voice, ConverterRequest(msg.engine, msg.pitch_shift, msg.block_ms))
    except EngineError as exc:
        raise ClientMessageError(exc.code, exc.message) from None


