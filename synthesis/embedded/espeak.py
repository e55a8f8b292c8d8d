"""Base speech from the espeak-ng command line (Debian package ``espeak-ng``)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np

from synthesis.interfaces import EngineError, Samples

ESPEAK_VOICES = {"pt-BR": "pt-br", "es": "es", "en": "en-us"}
DEFAULT_WPM = 175
MIN_WPM, MAX_WPM = 80, 450
BASE_TIMEOUT_S = 10.0


def run_espeak(args: list[str], text: str) -> bytes:
    """Run espeak-ng with ``text`` on stdin (so nothing in it can be read as an option); its stdout, or the engine
    error that says what went wrong. The timeout grows with the text."""
    try:
        done = subprocess.run(args, input=text.encode("utf-8"), capture_output=True,
                              timeout=BASE_TIMEOUT_S + len(text) / 50.0, check=False)
    except subprocess.TimeoutExpired:
        raise EngineError("synthesis_timeout", "espeak-ng took too long", retryable=True) from None
    except OSError as exc:
        raise EngineError("engine_unavailable", f"espeak-ng cannot run: {exc.strerror}") from None
    if done.returncode != 0:
        raise EngineError("synthesis_failed", f"espeak-ng exited with status {done.returncode}", retryable=True)
    return done.stdout


def parse_wav(data: bytes) -> tuple[Samples, int]:
    """Mono 16-bit PCM WAV bytes -> (float32 samples, rate). Tolerates the bogus sizes of a streamed header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
        elif chunk_id == b"data":
            if rate == 0 or channels != 1 or bits != 16:
                raise ValueError("expected mono 16-bit PCM")
            end = min(len(data), body + size)
            pcm = data[body : end - ((end - body) % 2)]
            return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate
        pos = body + size + (size % 2)
    raise ValueError("WAV stream has no data chunk")


class EspeakSynth:
    """Runs ``espeak-ng`` once per text; blocking (call it from a worker thread)."""

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable

    def _exe(self) -> str:
        exe = self._executable or shutil.which("espeak-ng")
        if exe is None:
            raise EngineError("engine_unavailable", "espeak-ng is not installed", retryable=False)
        return exe

    def check(self) -> None:
        self._exe()

    def synthesize(
        self, text: str, language: str, *, speed: float = 1.0, pitch: int | None = None, variant: str | None = None
    ) -> tuple[Samples, int]:
        """(float32 samples, rate) for ``text``. ``pitch`` is espeak's 0..99 (default 50); ``variant`` e.g. ``f3``."""
        voice = ESPEAK_VOICES.get(language)
        if voice is None:
            raise EngineError("unsupported_language", f"espeak-ng has no voice for language {language!r}")
        if variant is not None:
            if not variant.isalnum():
                raise ValueError("variant must be alphanumeric")
            voice = f"{voice}+{variant}"
        wpm = int(np.clip(round(DEFAULT_WPM * speed), MIN_WPM, MAX_WPM))
        # Text goes through stdin so nothing in it can be read as an option; -b 1 means UTF-8 input.
        args = [self._exe(), "-v", voice, "-s", str(wpm), "-b", "1", "--stdout", "--stdin"]
        if pitch is not None:
            args[1:1] = ["-p", str(int(np.clip(pitch, 0, 99)))]
        stdout = run_espeak(args, text)
        try:
            return parse_wav(stdout)
        except ValueError as exc:
            raise EngineError("synthesis_failed", f"espeak-ng returned unreadable audio: {exc}") from None
