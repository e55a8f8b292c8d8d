"""Frames that move through the stream core. Audio inside the core is mono float32 at the engine's rate."""

from __future__ import annotations

from dataclasses import dataclass

from synthesis.interfaces import Samples


@dataclass(slots=True)
class AudioFrame:
    samples: Samples
    sample_rate_hz: int
    channels: int = 1

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate_hz


@dataclass(slots=True)
class SegmentFrame:
    index: int
    text: str
    start_ms: int
    duration_ms: int
    language: str | None = None


@dataclass(slots=True)
class ErrorFrame:
    code: str
    message: str
    fatal: bool = False


@dataclass(slots=True)
class CancelledFrame:
    pass


@dataclass(slots=True)
class DoneFrame:
    audio_ms: int


OutputFrame = AudioFrame | SegmentFrame | ErrorFrame | CancelledFrame | DoneFrame
