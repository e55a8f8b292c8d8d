"""Kokoro-82M on onnxruntime: text to frame features (cheap), then chosen frames to 24 kHz speech (costly)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthesis.dsp.time_stretch import time_stretch
from synthesis.interfaces import EngineError, Samples
from synthesis.kokoro.assets import VOICE_PACKS, KokoroAssets, load_assets
from synthesis.kokoro.graph import phase_at, split_model
from synthesis.kokoro.phonemes import IpaPhonemizer

SAMPLE_RATE_HZ = 24000
SPEED_RANGE = (0.25, 4.0)
# Beyond this the model's own speed control garbles pt-BR and es; the rest of the range is a tempo change.
MODEL_SPEED_RANGE = (0.5, 2.0)
FRAME_SAMPLES = 600  # one decoder frame: 25 ms
# Frames kept either side of the speech the energy curve shows: the model's own lead-in is ~15 silent frames.
EDGE_FRAMES = 4
_SILENCE = 0.01
_EDGE_PAD_S = 0.04
_FADE_S = 0.005


class Cancellation:
    """Aborts a running inference from another thread (onnxruntime ``RunOptions.terminate``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._running: list[Any] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for options in self._running:
                options.terminate = True

    def _track(self, options: Any) -> bool:
        with self._lock:
            if self._cancelled:
                return False
            self._running.append(options)
            return True

    def _untrack(self, options: Any) -> None:
        with self._lock:
            self._running.remove(options)


def _loud(audio: Samples) -> npt.NDArray[np.intp]:
    return np.flatnonzero(np.abs(audio) > _SILENCE)


def _fade(out: Samples, *, head: bool, tail: bool, sample_rate_hz: int) -> Samples:
    fade = min(int(_FADE_S * sample_rate_hz), len(out) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        if head:
            out[:fade] *= ramp
        if tail:
            out[-fade:] *= ramp[::-1]
    return out


def trim_leading(audio: Samples, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Samples:
    """Cut leading silence (keeping a short pad) and fade in."""
    loud = _loud(audio)
    if len(loud) == 0:
        return np.zeros(0, dtype=np.float32)
    out = np.array(audio[max(0, loud[0] - int(_EDGE_PAD_S * sample_rate_hz)):], dtype=np.float32)
    return _fade(out, head=True, tail=False, sample_rate_hz=sample_rate_hz)


def trim_trailing(audio: Samples, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Samples:
    """Cut trailing silence (keeping a short pad) and fade out."""
    loud = _loud(audio)
    if len(loud) == 0:
        return np.zeros(0, dtype=np.float32)
    out = np.array(audio[: loud[-1] + int(_EDGE_PAD_S * sample_rate_hz)], dtype=np.float32)
    return _fade(out, head=False, tail=True, sample_rate_hz=sample_rate_hz)


def trim_edges(audio: Samples, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Samples:
    """Cut leading/trailing silence (keeping a short pad) and fade both ends, so pieces join without clicks."""
    return trim_trailing(trim_leading(audio, sample_rate_hz), sample_rate_hz)


@dataclass(slots=True, frozen=True)
class Utterance:
    """The encoder's frame features for one piece of text; ``start``/``end`` bound the frames worth decoding."""

    asr: Samples
    f0: Samples
    energy: Samples
    style: Samples
    start: int
    end: int
    tempo: float
    """Time-stretch still to apply (speeds beyond the model's own range), 1.0 when none."""

    @property
    def frames(self) -> int:
        return int(self.asr.shape[2])

    def quietest(self, near: int, radius: int) -> int:
        """The frame around ``near`` (within ``radius``, inside start..end) with the least energy."""
        lo, hi = max(self.start + 1, near - radius), min(self.end - 1, near + radius)
        if lo >= hi:
            return near
        per_frame = self.energy.reshape(-1)[: 2 * self.frames].reshape(-1, 2).max(axis=1)
        return lo + int(np.argmin(per_frame[lo : hi + 1]))


@dataclass(slots=True, frozen=True)
class _Graph:
    """One graph's sessions: ``wide`` on ``intra_op_threads``; ``narrow`` on one thread, for while another inference
    runs (two runs of two threads each on two cores wait on each other's threads)."""

    wide: Any
    narrow: Any


class KokoroSynth:
    """Owns the onnxruntime sessions. ``load`` once (blocking), then ``prepare``/``decode`` (or ``synthesize``) from
    worker threads. The model runs as two graphs (synthesis/kokoro/graph.py): only frames with speech in them (and a
    short margin) are decoded, and a stretch of frames can be decoded on its own. An inference that starts while
    another is running gets one thread."""

    def __init__(self, cache_dir: Path, *, intra_op_threads: int = 1) -> None:
        self._cache_dir = cache_dir
        self._intra_op_threads = intra_op_threads
        self._assets: KokoroAssets | None = None
        self._encoder: _Graph | None = None
        self._decoder: _Graph | None = None
        self._phonemizer: IpaPhonemizer | None = None
        self._lock = threading.Lock()
        self._running = 0

    @property
    def voice_packs(self) -> tuple[str, ...]:
        return VOICE_PACKS

    def load(self) -> None:
        if self._decoder is not None:
            return
        try:
            import onnxruntime
        except ImportError:
            raise EngineError("engine_unavailable", "the Kokoro voice needs onnxruntime") from None
        assets = load_assets(self._cache_dir)
        phonemizer = IpaPhonemizer(assets.vocab)
        phonemizer.check()
        graphs = split_model(assets.model_path)

        def session(graph: bytes, threads: int) -> Any:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Spinning pool threads burn the cores other jobs (and other streams) need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return onnxruntime.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])

        def sessions(graph: bytes) -> _Graph:
            wide = session(graph, self._intra_op_threads)
            return _Graph(wide, wide if self._intra_op_threads == 1 else session(graph, 1))

        try:
            encoder, decoder = sessions(graphs.encoder), sessions(graphs.decoder)
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise EngineError("engine_unavailable", f"the Kokoro model cannot be loaded: {type(exc).__name__}") \
                from None
        self._assets, self._phonemizer = assets, phonemizer
        self._encoder, self._decoder = encoder, decoder

    def check_pack(self, pack: str) -> None:
        assets = self._require()
        if pack not in assets.voices:
            raise EngineError("engine_unavailable", f"Kokoro has no voice pack {pack!r} "
                              f"(one of {', '.join(sorted(assets.voices))})")

    def _require(self) -> KokoroAssets:
        if self._assets is None:
            raise EngineError("not_ready", "the Kokoro voice is not loaded", retryable=True)
        return self._assets

    def prepare(self, text: str, language: str, pack: str, *, speed: float = 1.0,
                cancellation: Cancellation | None = None) -> Utterance | None:
        """The encoder's frames for one piece of text (blocking); None when nothing in it can be spoken."""
        assets = self._require()
        assert self._phonemizer is not None
        tokens = self._phonemizer.tokens(self._phonemizer.ipa(text, language))
        if not tokens:
            return None
        styles = assets.voices[pack]
        style = styles[min(len(tokens), len(styles)) - 1].reshape(1, -1).astype(np.float32)
        speed = float(np.clip(speed, *SPEED_RANGE))
        model_speed = float(np.clip(speed, *MODEL_SPEED_RANGE))
        out = self._run(self._encoder, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([model_speed], dtype=np.float32),
        }, cancellation)
        if out is None:
            return None
        asr, f0, energy = out
        frames = int(asr.shape[2])
        speaking = np.flatnonzero(energy.reshape(-1)[: 2 * frames].reshape(-1, 2).max(axis=1) > 0)
        if len(speaking) == 0:
            return None
        start = max(0, int(speaking[0]) - EDGE_FRAMES)
        end = min(frames, int(speaking[-1]) + 1 + EDGE_FRAMES)
        return Utterance(asr, f0, energy, style, start, end, speed / model_speed)

    def decode(self, utt: Utterance, start: int, end: int, *, left: int = 0, right: int = 0,
               cancellation: Cancellation | None = None) -> Samples:
        """Audio of frames ``start``..``end``, decoded with up to ``left``/``right`` frames of context (blocking);
        empty when cancelled."""
        lo, hi = max(0, start - left), min(utt.frames, end + right)
        out = self._run(self._decoder, {
            "asr": np.ascontiguousarray(utt.asr[:, :, lo:hi]),
            "f0": np.ascontiguousarray(utt.f0[:, 2 * lo : 2 * hi]),
            "energy": np.ascontiguousarray(utt.energy[:, 2 * lo : 2 * hi]),
            "style": utt.style,
            "phase0": phase_at(utt.f0, 2 * lo),
        }, cancellation)
        if out is None:
            return np.zeros(0, dtype=np.float32)
        audio = np.clip(np.asarray(out[0], dtype=np.float32).ravel(), -1.0, 1.0)
        return audio[(start - lo) * FRAME_SAMPLES : (end - lo) * FRAME_SAMPLES]

    def synthesize(self, text: str, language: str, pack: str, *, speed: float = 1.0,
                   cancellation: Cancellation | None = None, skip_silence: bool = True) -> Samples:
        """Trimmed speech for one piece of text (blocking); empty when nothing in it can be spoken.
        ``skip_silence`` decodes only the frames with speech (and a margin): cheaper, a little different."""
        utt = self.prepare(text, language, pack, speed=speed, cancellation=cancellation)
        if utt is None:
            return np.zeros(0, dtype=np.float32)
        return self.render(utt, skip_silence=skip_silence, cancellation=cancellation)

    def render(self, utt: Utterance, *, skip_silence: bool = True, cancellation: Cancellation | None = None
               ) -> Samples:
        """The whole utterance, trimmed (and time-stretched where its speed asks for it)."""
        start, end = (utt.start, utt.end) if skip_silence else (0, utt.frames)
        audio = trim_edges(self.decode(utt, start, end, cancellation=cancellation))
        if utt.tempo != 1.0 and len(audio):  # a speed beyond the model's range: the rest is a tempo change
            return trim_edges(time_stretch(audio, utt.tempo, SAMPLE_RATE_HZ))
        return audio

    def _run(self, graph: _Graph | None, feed: dict[str, npt.NDArray[Any]], cancellation: Cancellation | None
             ) -> Any:
        import onnxruntime

        assert graph is not None, "not loaded"
        run_options = onnxruntime.RunOptions()
        if cancellation is not None and not cancellation._track(run_options):
            return None
        with self._lock:
            session = graph.narrow if self._running else graph.wide
            self._running += 1
        try:
            return session.run(None, feed, run_options)
        except Exception as exc:
            if cancellation is not None and cancellation.cancelled:
                return None
            raise EngineError("synthesis_failed", f"Kokoro inference failed: {type(exc).__name__}") from None
        finally:
            with self._lock:
                self._running -= 1
            if cancellation is not None:
                cancellation._untrack(run_options)
