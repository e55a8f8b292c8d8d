"""Kokoro-82M on onnxruntime: one blocking call turns a piece of text into 24 kHz speech."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from synthesis.dsp.time_stretch import time_stretch
from synthesis.interfaces import EngineError, Samples
from synthesis.kokoro.assets import VOICE_PACKS, KokoroAssets, load_assets
from synthesis.kokoro.phonemes import IpaPhonemizer

SAMPLE_RATE_HZ = 24000
SPEED_RANGE = (0.25, 4.0)
# Beyond this the model's own speed control garbles pt-BR and es; the rest of the range is a tempo change.
MODEL_SPEED_RANGE = (0.5, 2.0)
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


def trim_edges(audio: Samples, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Samples:
    """Cut leading/trailing silence (keeping a short pad) and fade both ends, so pieces join without clicks."""
    loud = np.flatnonzero(np.abs(audio) > _SILENCE)
    if len(loud) == 0:
        return np.zeros(0, dtype=np.float32)
    pad = int(_EDGE_PAD_S * sample_rate_hz)
    out = np.array(audio[max(0, loud[0] - pad) : loud[-1] + pad], dtype=np.float32)
    fade = min(int(_FADE_S * sample_rate_hz), len(out) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out


class KokoroSynth:
    """Owns the onnxruntime session. ``load`` once (blocking), then ``synthesize`` from worker threads."""

    def __init__(self, cache_dir: Path, *, intra_op_threads: int = 1) -> None:
        self._cache_dir = cache_dir
        self._intra_op_threads = intra_op_threads
        self._assets: KokoroAssets | None = None
        self._session: Any = None
        self._phonemizer: IpaPhonemizer | None = None

    @property
    def voice_packs(self) -> tuple[str, ...]:
        return VOICE_PACKS

    def load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime
        except ImportError:
            raise EngineError("engine_unavailable", "the Kokoro voice needs onnxruntime") from None
        assets = load_assets(self._cache_dir)
        phonemizer = IpaPhonemizer(assets.vocab)
        phonemizer.check()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._intra_op_threads
        options.inter_op_num_threads = 1
        # Spinning pool threads burn the cores other jobs (and other streams) need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(str(assets.model_path), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise EngineError("engine_unavailable", f"the Kokoro model cannot be loaded: {type(exc).__name__}") \
                from None
        self._assets, self._phonemizer, self._session = assets, phonemizer, session

    def check_pack(self, pack: str) -> None:
        assets = self._require()
        if pack not in assets.voices:
            raise EngineError("engine_unavailable", f"Kokoro has no voice pack {pack!r} "
                              f"(one of {', '.join(sorted(assets.voices))})")

    def _require(self) -> KokoroAssets:
        if self._assets is None:
            raise EngineError("not_ready", "the Kokoro voice is not loaded", retryable=True)
        return self._assets

    def synthesize(self, text: str, language: str, pack: str, *, speed: float = 1.0,
                   cancellation: Cancellation | None = None) -> Samples:
        """Trimmed speech for one piece of text (blocking); empty when nothing in it can be spoken."""
        assets = self._require()
        assert self._phonemizer is not None
        tokens = self._phonemizer.tokens(self._phonemizer.ipa(text, language))
        if not tokens:
            return np.zeros(0, dtype=np.float32)
        styles = assets.voices[pack]
        style = styles[min(len(tokens), len(styles)) - 1].reshape(1, -1)
        import onnxruntime

        speed = float(np.clip(speed, *SPEED_RANGE))
        model_speed = float(np.clip(speed, *MODEL_SPEED_RANGE))
        run_options = onnxruntime.RunOptions()
        if cancellation is not None and not cancellation._track(run_options):
            return np.zeros(0, dtype=np.float32)
        try:
            audio = self._session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style.astype(np.float32),
                "speed": np.array([model_speed], dtype=np.float32),
            }, run_options)[0]
        except Exception as exc:
            if cancellation is not None and cancellation.cancelled:
                return np.zeros(0, dtype=np.float32)
            raise EngineError("synthesis_failed", f"Kokoro inference failed: {type(exc).__name__}") from None
        finally:
            if cancellation is not None:
                cancellation._untrack(run_options)
        speech = trim_edges(np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0))
        if speed != model_speed and len(speech):
            speech = trim_edges(time_stretch(speech, speed / model_speed, SAMPLE_RATE_HZ))
        return speech
