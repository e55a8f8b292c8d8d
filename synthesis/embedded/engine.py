"""The embedded TTS engine: a base voice per language (Kokoro, Piper or espeak-ng), adjusted toward the voice profile
by the WORLD matcher. The result is a base voice nudged toward the customer's, not a clone."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from synthesis.dsp.resample import resample
from synthesis.embedded.base_voices import BaseVoice, resolve_alternates, resolve_base_voices
from synthesis.embedded.espeak import EspeakSynth
from synthesis.embedded.piper import PiperSynth
from synthesis.embedded.stats_cache import load_stats, save_stats, stats_path
from synthesis.embedded.text_split import (
    FIRST_PIECE_MAX_CHARS,
    PIECE_MAX_CHARS,
    STREAM_START_MAX_CHARS,
    split_for_synthesis,
)
from synthesis.embedded.voice_stats import VoiceStats, analyze_voice
from synthesis.embedded.world_matcher import WorldMatcher
from synthesis.interfaces import LANGUAGES, AudioChunk, EngineError, Samples, SynthesisParams, VoiceReference
from synthesis.kokoro.assets import MODEL_SHA256
from synthesis.kokoro.chunks import kokoro_pieces
from synthesis.kokoro.model import Cancellation, KokoroSynth
from synthesis.kokoro.split import SplitPiece
from synthesis.worker import PRIORITY_FIRST, PRIORITY_NORMAL, DeviceWorker

ENGLISH_ENGINES = ("piper", "espeak")

OUTPUT_RATE_HZ = 24000
# 160 ms blocks cost a quarter less (each block re-reads 200 ms of context) but Whisper base heard the matched pt-BR
# text at 15 % WER instead of 6 %: kept at 80.
MATCHER_BLOCK_MS = 80.0
FIRST_SLICE_MS = 160.0  # two matcher blocks: the first chunk is ready after ~15 ms of matching
SLICE_MS = 240.0
VOICE_CACHE_SIZE = 32
SPEED_RANGE = (0.25, 4.0)
PITCH_RANGE = (-20.0, 20.0)
# Pause put back after a trimmed Kokoro piece, by how the piece ends (a cut between words gets almost none).
KOKORO_GAP_S = {"sentence": 0.2, "clause": 0.12, "word": 0.03}
# Decoding only a piece's speech frames saves ~20 % but changes short pieces audibly (the vocoder normalises over the
# frames it is given, and the silence is a large share of a short piece): Whisper base heard more errors below this.
KOKORO_SKIP_SILENCE_CHARS = 60
DEFAULT_KOKORO_CACHE = Path.home() / ".cache" / "duble" / "kokoro"

CALIBRATION_TEXT = {
    "en": "The weather was calm this morning, so we walked along the river and talked about our plans for the summer. "
          "Later, a friend called to ask whether we could help move some boxes before dinner.",
    "pt-BR": "Hoje o tempo estava calmo, então caminhamos pela beira do rio e conversamos sobre os planos para "
             "o verão. Mais tarde, um amigo ligou perguntando se poderíamos ajudar a carregar umas caixas antes do "
             "jantar.",
    "es": "Hoy el tiempo estaba tranquilo, así que caminamos junto al río y hablamos de nuestros planes para el "
          "verano. Más tarde, un amigo llamó para preguntar si podíamos ayudar a mover unas cajas antes de la cena.",
}


class EmbeddedTTSEngine:
    """TTS with no downloaded weights. All blocking work runs on ``worker``; chunks are at most ~300 ms."""

    name = "embedded"
    requires_voice = False
    sample_rate_hz = OUTPUT_RATE_HZ

    def __init__(
        self, worker: DeviceWorker, *, english_engine: str = "piper", voice_cache_size: int = VOICE_CACHE_SIZE,
        base_voices: Mapping[str, str] | None = None, alternate_base_voices: Mapping[str, Sequence[str]] | None = None,
        kokoro_cache_dir: Path = DEFAULT_KOKORO_CACHE, kokoro_threads: int = 2, job_timeout_s: float = 60.0,
    ) -> None:
        """``base_voices`` maps languages to base voices (synthesis/embedded/base_voices.py); by default espeak-ng
        everywhere but English, which ``english_engine`` picks. A voice profile speaks through whichever of its
        language's base voice and ``alternate_base_voices`` has the median pitch nearest its own."""
        if english_engine not in ENGLISH_ENGINES:
            raise ValueError(f"english_engine must be one of {ENGLISH_ENGINES}, not {english_engine!r}")
        self._voice_cache_size = max(1, voice_cache_size)
        self._worker = worker
        self._base = resolve_base_voices({"en": english_engine, **(base_voices or {})})
        self._alternates = resolve_alternates(self._base, alternate_base_voices)
        self._espeak = EspeakSynth()
        self._piper = PiperSynth() if self._base["en"].engine == "piper" else None
        uses_kokoro = any(b.engine == "kokoro" for b in self._all_bases())
        self._kokoro = KokoroSynth(kokoro_cache_dir, intra_op_threads=kokoro_threads) if uses_kokoro else None
        self._kokoro_cache_dir = kokoro_cache_dir
        self._job_timeout_s = job_timeout_s
        self._base_stats: dict[BaseVoice, VoiceStats] = {}
        self._voice_stats: OrderedDict[str, VoiceStats] = OrderedDict()

    @property
    def base_voices(self) -> dict[str, BaseVoice]:
        return dict(self._base)

    def _all_bases(self) -> list[BaseVoice]:
        return [*self._base.values(), *(b for bases in self._alternates.values() for b in bases)]

    @property
    def cache_tag(self) -> str:
        """Cached audio is only replayed for the same base voices."""
        return "embedded:" + ",".join(f"{b.language}={b.engine}:{b.voice}" for b in self._all_bases())

    @property
    def cached_voice_ids(self) -> list[str]:
        """Voices whose statistics are cached, least recently used first."""
        return list(self._voice_stats)

    async def warm_up(self) -> None:
        self._base_stats = await self._worker.run_sync(self._load_and_calibrate)

    def _load_and_calibrate(self) -> dict[BaseVoice, VoiceStats]:
        self._espeak.check()
        if self._piper is not None:
            self._piper.load()
        if self._kokoro is not None:
            self._kokoro.load()
            for base in self._all_bases():
                if base.engine == "kokoro":
                    self._kokoro.check_pack(base.voice)
        stats = {base: self._calibrate(base) for base in self._all_bases()}
        if kokoro_base := next((b for b in self._all_bases() if b.engine == "kokoro"), None):
            self._base_piece("Ok.", kokoro_base, 1.0)  # the first inference pays one-off allocation costs
        # One short pass warms the vocoder's code paths so the first request pays no first-call costs.
        english = stats[self._base["en"]]
        probe = WorldMatcher(english, english, sample_rate_hz=OUTPUT_RATE_HZ, compensate_delay=True)
        probe.process(self._base_piece("Ready.", self._base["en"], 1.0))
        probe.flush()
        return stats

    def _calibrate(self, base: BaseVoice) -> VoiceStats:
        sentences = split_for_synthesis(CALIBRATION_TEXT[base.language], first_max_chars=10_000)
        if base.engine != "kokoro":
            return analyze_voice(np.concatenate([self._base_piece(p, base, 1.0) for p in sentences]),
                                 OUTPUT_RATE_HZ)
        path = stats_path(self._kokoro_cache_dir, MODEL_SHA256, base.voice, base.language, sentences[0])
        if (stats := load_stats(path)) is not None:
            return stats
        stats = analyze_voice(self._base_piece(sentences[0], base, 1.0), OUTPUT_RATE_HZ)
        save_stats(path, stats)
        return stats

    def _base_piece(self, text: str, base: BaseVoice, speed: float, cancellation: Cancellation | None = None
                    ) -> Samples:
        """Base speech for one piece of text at the output rate (blocking)."""
        language = base.language
        if base.engine == "kokoro":
            assert self._kokoro is not None
            audio = self._kokoro.synthesize(text, language, base.voice, speed=speed, cancellation=cancellation,
                                            skip_silence=len(text) >= KOKORO_SKIP_SILENCE_CHARS)
            return _with_gap(text, audio) if len(audio) else audio
        if base.engine == "piper" and self._piper is not None:
            parts = list(self._piper.sentences(text, speed=speed))
            if not parts:
                return np.zeros(0, dtype=np.float32)
            audio, rate = np.concatenate(parts), self._piper.sample_rate_hz
        else:
            audio, rate = self._espeak.synthesize(text, language, speed=speed)
        # Resampling can overshoot a full-scale peak.
        return np.clip(resample(audio, rate, OUTPUT_RATE_HZ), -1.0, 1.0)

    def base_for(self, language: str, target: VoiceStats | None) -> BaseVoice:
        """The language's base voice, or the alternate whose median pitch is nearest the profile's."""
        candidates = (self._base[language], *self._alternates.get(language, ()))
        if target is None or len(candidates) == 1:
            return candidates[0]
        return min(candidates, key=lambda b: abs(math.log(self._base_stats[b].median_f0_hz / target.median_f0_hz)))

    async def prepare_voice(self, voice: VoiceReference) -> None:
        """The voice's statistics, so its first stream does not wait for them (~0.25 s for a 7 s reference)."""
        if voice.voice_id in self._voice_stats:
            return
        target = await self._worker.submit(partial(_voice_stats, voice), priority=PRIORITY_NORMAL)
        self._remember(voice.voice_id, target)

    def _remember(self, voice_id: str, target: VoiceStats) -> None:
        self._voice_stats[voice_id] = target
        self._voice_stats.move_to_end(voice_id)
        while len(self._voice_stats) > self._voice_cache_size:
            self._voice_stats.popitem(last=False)

    async def _make_matcher(self, voice: VoiceReference | None, params: SynthesisParams
                            ) -> tuple[BaseVoice, WorldMatcher]:
        """The base voice and a fresh matcher for one synthesis, built on the worker (with the voice's statistics,
        cached per voice)."""
        cached = self._voice_stats.get(voice.voice_id) if voice is not None else None
        if cached is not None and voice is not None:
            self._voice_stats.move_to_end(voice.voice_id)

        def build() -> tuple[VoiceStats | None, BaseVoice, WorldMatcher]:
            target = cached
            if voice is not None and target is None:
                target = _voice_stats(voice)
            base = self.base_for(params.language, target)
            matcher = WorldMatcher(target, self._base_stats[base], sample_rate_hz=OUTPUT_RATE_HZ,
                                   pitch_semitones=params.pitch_semitones, block_ms=MATCHER_BLOCK_MS,
                                   compensate_delay=True)
            return target, base, matcher

        target, base, matcher = await self._worker.submit(build, priority=PRIORITY_FIRST)
        if voice is not None and target is not None and cached is None:
            self._remember(voice.voice_id, target)
        return base, matcher

    def _validate(self, text: str, params: SynthesisParams) -> None:
        if params.language not in LANGUAGES:
            raise EngineError("unsupported_language", f"language must be one of {', '.join(LANGUAGES)}")
        if not text or not text.strip():
            raise EngineError("empty_text", "there is no text to speak")
        if not SPEED_RANGE[0] <= params.speed <= SPEED_RANGE[1]:
            raise EngineError("invalid_params", f"speed must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}")
        if not PITCH_RANGE[0] <= params.pitch_semitones <= PITCH_RANGE[1]:
            raise EngineError("invalid_params", f"pitch must be between {PITCH_RANGE[0]:g} and {PITCH_RANGE[1]:g}")
        if self._base.get(params.language) not in self._base_stats:
            raise EngineError("not_ready", "the embedded engine is still warming up", retryable=True)

    def _pieces(self, text: str, params: SynthesisParams, base: BaseVoice) -> list[str]:
        if base.engine != "kokoro":
            first_max = STREAM_START_MAX_CHARS if params.stream_start else FIRST_PIECE_MAX_CHARS
            return split_for_synthesis(text, first_max_chars=first_max)
        pieces: list[str] = []
        for i, sentence in enumerate(split_for_synthesis(text, first_max_chars=PIECE_MAX_CHARS)):
            pieces += kokoro_pieces(sentence, stream_start=params.stream_start and i == 0)
        return pieces

    def _steps(self, text: str, params: SynthesisParams, base: BaseVoice, cancellation: Cancellation
               ) -> list[Callable[[], Samples]]:
        """One blocking job per piece; a stream's opening Kokoro piece is two (synthesis/kokoro/split.py)."""
        steps: list[Callable[[], Samples]] = []
        for i, piece in enumerate(self._pieces(text, params, base)):
            if i == 0 and params.stream_start and base.engine == "kokoro":
                assert self._kokoro is not None
                split = SplitPiece(self._kokoro, piece, params.language, base.voice, speed=params.speed,
                                   cancellation=cancellation)
                steps += [split.opening, partial(_rest_with_gap, piece, split)]
            else:
                steps.append(partial(self._base_piece, piece, base, params.speed, cancellation))
        return steps

    async def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        self._validate(text, params)
        matcher: WorldMatcher | None = None
        base = self._base[params.language]
        if voice is not None or params.pitch_semitones != 0:
            base, matcher = await self._make_matcher(voice, params)
        cancellation = Cancellation()

        async def render(step: Callable[[], Samples], priority: int) -> Samples:
            job = partial(_guarded, "base speech", step)
            return await self._worker.submit(job, priority=priority, timeout_s=self._job_timeout_s)

        priority = PRIORITY_FIRST
        first_slice = int(FIRST_SLICE_MS * OUTPUT_RATE_HZ / 1000)
        slice_len = int(SLICE_MS * OUTPUT_RATE_HZ / 1000)
        steps = self._steps(text, params, base, cancellation)
        ahead: asyncio.Task[Samples] | None = None
        try:
            for i, step in enumerate(steps):
                speech = await (ahead if ahead is not None else render(step, priority))
                ahead = None
                pos = 0
                while pos < len(speech):
                    size = first_slice if priority == PRIORITY_FIRST else slice_len
                    part = speech[pos : pos + size]
                    pos += size
                    if matcher is not None:
                        part = await self._worker.submit(
                            partial(_guarded, "voice matching", partial(matcher.process, part)), priority=priority)
                    if len(part):
                        yield AudioChunk(samples=part, sample_rate_hz=OUTPUT_RATE_HZ)
                        priority = PRIORITY_NORMAL
                    if ahead is None and i + 1 < len(steps):
                        # The next step renders while this one streams; queued only once this step's first chunk
                        # is out, so on a one-thread worker it never delays that chunk.
                        ahead = asyncio.ensure_future(render(steps[i + 1], PRIORITY_NORMAL))
        finally:
            cancellation.cancel()
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
        if matcher is not None:
            tail = await self._worker.submit(partial(_guarded, "voice matching", matcher.flush), priority=priority)
            for start in range(0, len(tail), slice_len):
                yield AudioChunk(samples=tail[start : start + slice_len], sample_rate_hz=OUTPUT_RATE_HZ)


def _voice_stats(voice: VoiceReference) -> VoiceStats:
    try:
        return analyze_voice(voice.samples, voice.sample_rate_hz)
    except ValueError as exc:
        raise EngineError("bad_voice", f"the voice reference cannot be used: {exc}") from None


def _with_gap(text: str, audio: Samples) -> Samples:
    """A trimmed Kokoro piece with the pause its last punctuation asks for put back."""
    end = text.rstrip()[-1:]
    gap_s = KOKORO_GAP_S["sentence" if end in ".!?…" else "clause" if end in ",;:—" else "word"]
    return np.concatenate([audio, np.zeros(int(gap_s * OUTPUT_RATE_HZ), dtype=np.float32)])


def _rest_with_gap(text: str, split: SplitPiece) -> Samples:
    rest = split.rest()
    return _with_gap(text, rest) if split.spoke else rest


def _guarded(what: str, fn: Callable[[], Samples]) -> Samples:
    """Runs one blocking step; any failure inside a third-party engine becomes the one engine error type."""
    try:
        return fn()
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError("synthesis_failed", f"{what} failed: {type(exc).__name__}") from exc
