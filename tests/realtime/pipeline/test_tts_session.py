"""The TTS session core through its own harness: text and control in, frames out (no transport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from realtime.frames import AudioFrame, CancelledFrame, DoneFrame, OutputFrame, SegmentFrame
from realtime.pipeline.tts_session import TTSSession
from synthesis.interfaces import AudioChunk, SynthesisParams, VoiceReference


class RecordingEngine:
    """A fake engine: 100 ms of audio per call, remembering what it was asked."""

    name = "recording"
    sample_rate_hz = 1000
    requires_voice = False

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, SynthesisParams]] = []
        self._delay_s = delay_s

    async def warm_up(self) -> None:
        return None

    async def prepare_voice(self, voice: VoiceReference) -> None:
        return None

    async def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        self.calls.append((text, params))
        for _ in range(2):
            await asyncio.sleep(self._delay_s)
            yield AudioChunk(np.full(50, 0.1, np.float32), self.sample_rate_hz)


async def _run(engine: RecordingEngine, script: list[tuple[str, str]]) -> list[OutputFrame]:
    out: list[OutputFrame] = []

    async def emit(frame: OutputFrame) -> None:
        out.append(frame)

    session = TTSSession(engine, None, SynthesisParams("en"), emit)
    runner = asyncio.create_task(session.run())
    for kind, text in script:
        if kind == "text":
            session.push_text(text)
        elif kind == "wait":
            await asyncio.sleep(float(text))
        elif kind == "cancel":
            session.cancel()
    session.end()
    await asyncio.wait_for(runner, 10)
    return out


async def test_sentences_frames_and_timeline() -> None:
    engine = RecordingEngine()
    out = await _run(engine, [("text", "One. Two"), ("text", " words. Three")])
    segments = [f for f in out if isinstance(f, SegmentFrame)]
    assert [(s.index, s.text, s.start_ms, s.duration_ms) for s in segments] == [
        (0, "One.", 0, 100), (1, "Two words.", 100, 100), (2, "Three", 200, 100)]
    assert isinstance(out[-1], DoneFrame) and out[-1].audio_ms == 300
    assert sum(isinstance(f, AudioFrame) for f in out) == 6


async def test_only_the_opening_sentence_is_marked_stream_start() -> None:
    engine = RecordingEngine(delay_s=0.05)
    await _run(engine, [("text", "First one. Second one. "), ("wait", "0.5"), ("text", "Long text. " * 20),
                        ("wait", "0.12"), ("cancel", ""), ("text", "After cancel. Then more. ")])
    flags = {text: params.stream_start for text, params in engine.calls}
    assert flags["First one."] is True and flags["Second one."] is False
    assert flags["After cancel."] is True and flags["Then more."] is False


async def test_cancel_emits_cancelled_and_drops_queue() -> None:
    engine = RecordingEngine(delay_s=0.05)
    out = await _run(engine, [("text", "A. B. C. D. "), ("wait", "0.07"), ("cancel", ""), ("text", "E. ")])
    texts = [f.text for f in out if isinstance(f, SegmentFrame)]
    assert "D." not in texts and texts[-1] == "E."
    assert sum(isinstance(f, CancelledFrame) for f in out) == 1
