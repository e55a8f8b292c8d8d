"""The two engine interfaces and the types they exchange. Engines import nothing from ``realtime`` or ``billing``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]
"""Mono float32 audio in [-1, 1]."""

LANGUAGES = ("pt-BR", "es", "en")


@dataclass(slots=True, frozen=True)
class AudioChunk:
    samples: Samples
    sample_rate_hz: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate_hz


@dataclass(slots=True, frozen=True)
class VoiceReference:
    """A voice profile as engines see it: reference speech (mono float32) and what is said in it."""

    voice_id: str
    language: str
    samples: Samples
    sample_rate_hz: int
    reference_text: str | None = None
    extras: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class SynthesisParams:
    language: str
    speed: float = 1.0
    pitch_semitones: float = 0.0
    stream_start: bool = False
    """This text opens the stream (nothing is playing yet): favour time to first audio over prosody."""


class EngineError(Exception):
    """The one error type engines raise. ``code`` is a stable machine-readable string."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@runtime_checkable
class TTSEngine(Protocol):
    """Text + voice -> an async stream of audio chunks, first chunk as early as the model allows."""

    name: str
    sample_rate_hz: int
    requires_voice: bool
    """True when the engine cannot speak without a voice reference (zero-shot cloning models)."""

    async def warm_up(self) -> None:
        """Load models; called once from the app lifespan."""

    async def prepare_voice(self, voice: VoiceReference) -> None:
        """Work out now what ``synthesize`` needs from a newly uploaded voice (may do nothing). Raises
        ``EngineError`` when the voice cannot be used."""

    def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        """Yield the speech for ``text`` in order. Raises ``EngineError``."""
        ...


@runtime_checkable
class Converter(Protocol):
    """Stateful audio-to-audio conversion, one block at a time (one instance per stream)."""

    sample_rate_hz: int

    def process(self, block: Samples) -> Samples:
        """Convert the next block; may return fewer or more samples than given (the stream stays in order)."""
        ...

    def flush(self) -> Samples:
        """Return whatever audio is still held inside at the end of the stream."""
        ...

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency this converter adds."""
        ...
