"""The transport-agnostic core of a streamed TTS session.

Text goes in piece by piece; each complete sentence is synthesized in order and its audio leaves through ``emit`` as
soon as the engine yields it. Control (flush, end, cancel) never waits behind queued audio: cancel drops what is queued
and interrupts the sentence being spoken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from realtime.frames import AudioFrame, CancelledFrame, DoneFrame, ErrorFrame, OutputFrame, SegmentFrame
from realtime.pipeline.segmenter import SentenceSegmenter
from synthesis.interfaces import EngineError, SynthesisParams, TTSEngine, VoiceReference

Emit = Callable[[OutputFrame], Awaitable[None]]
DetectLanguage = Callable[[str], Awaitable[str]]

MAX_RETRIES = 2
RETRY_BACKOFF_S = 0.2
MAX_PENDING_CHARS = 50_000


class _End:
    pass


class _Cancelled:
    pass


_Item = str | _End | _Cancelled


class SessionInputError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class TTSSessionStats:
    audio_ms: float = 0.0
    sentences: int = 0


class TTSSession:
    def __init__(self, engine: TTSEngine, voice: VoiceReference | None, params: SynthesisParams, emit: Emit,
                 *, detect_language: DetectLanguage | None = None) -> None:
        """With ``detect_language``, the first sentence picks the language (``params.language`` is only a
        placeholder until then) and every later sentence keeps it."""
        self._engine = engine
        self._voice = voice
        self._params = params
        self._detect_language = detect_language
        self._at_stream_start = True
        self._emit = emit
        self._segmenter = SentenceSegmenter()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queued_chars = 0
        self._current: asyncio.Task[None] | None = None
        self._segment_index = 0
        self._ended = False
        self.stats = TTSSessionStats()

    @property
    def ended(self) -> bool:
        return self._ended

    def push_text(self, text: str) -> None:
        if self._ended:
            raise SessionInputError("session_ended", "the session has ended; start a new one")
        if self._queued_chars + self._segmenter.pending_chars + len(text) > MAX_PENDING_CHARS:
            raise SessionInputError("text_backlog_full", "too much text is waiting to be spoken; wait or cancel")
        for sentence in self._segmenter.push(text):
            self._enqueue(sentence)

    def flush(self) -> None:
        if self._ended:
            raise SessionInputError("session_ended", "the session has ended; start a new one")
        for sentence in self._segmenter.flush():
            self._enqueue(sentence)

    def end(self) -> None:
        if self._ended:
            return
        self.flush()
        self._ended = True
        self._queue.put_nowait(_End())

    def cancel(self) -> None:
        """Drop queued text and interrupt the sentence being spoken; the session stays usable."""
        if self._ended:
            return
        self._segmenter.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queued_chars = 0
        if self._current is not None:
            self._current.cancel()
        self._queue.put_nowait(_Cancelled())

    def _enqueue(self, sentence: str) -> None:
        self._queued_chars += len(sentence)
        self._queue.put_nowait(sentence)

    async def run(self) -> None:
        """Speak queued sentences until ``end``; returns after emitting ``DoneFrame``."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                await self._emit(DoneFrame(round(self.stats.audio_ms)))
                return
            if isinstance(item, _Cancelled):
                self._at_stream_start = True
                await self._emit(CancelledFrame())
                continue
            self._queued_chars -= len(item)
            self._current = asyncio.create_task(self._speak(item))
            try:
                await asyncio.wait({self._current})
            finally:
                if not self._current.done():
                    self._current.cancel()
                # Also when this task was cancelled just as the sentence failed: its error is then moot, not lost.
                await asyncio.gather(self._current, return_exceptions=True)
            if not self._current.cancelled():
                self._current.result()
            self._current = None

    async def _speak(self, sentence: str) -> None:
        if self._detect_language is not None:
            detect, self._detect_language = self._detect_language, None
            self._params = replace(self._params, language=await detect(sentence))
        params = replace(self._params, stream_start=True) if self._at_stream_start else self._params
        self._at_stream_start = False
        start_ms = self.stats.audio_ms
        emitted = False
        for attempt in range(MAX_RETRIES + 1):
            try:
                async for chunk in self._engine.synthesize(sentence, self._voice, params):
                    if len(chunk.samples) == 0:
                        continue
                    emitted = True
                    await self._emit(AudioFrame(chunk.samples, chunk.sample_rate_hz))
                    self.stats.audio_ms += chunk.duration_ms
                break
            except EngineError as exc:
                if exc.retryable and not emitted and attempt < MAX_RETRIES:
                    await asyncio.sleep(RETRY_BACKOFF_S * (attempt + 1))
                    continue
                await self._emit(ErrorFrame(exc.code, exc.message))
                return
        index = self._segment_index
        self._segment_index += 1
        self.stats.sentences += 1
        await self._emit(SegmentFrame(index, sentence, round(start_ms), round(self.stats.audio_ms - start_ms),
                                      params.language))
