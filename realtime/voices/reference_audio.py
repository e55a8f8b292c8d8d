"""Turns an uploaded recording into a clean reference: decoded, mono 24 kHz, silence trimmed, loudness normalized."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from synthesis.interfaces import Samples

REFERENCE_RATE_HZ = 24000
_FRAME_MS = 20
_SILENCE_FLOOR_DB = -50.0
_SILENCE_BELOW_PEAK_DB = 40.0
_TARGET_RMS_DB = -20.0
_PEAK_CEILING = 10 ** (-1.0 / 20)
MAX_DECODED_S = 300.0
MIN_SOURCE_RATE_HZ = 8000
MAX_SOURCE_RATE_HZ = 192000
MAX_CHANNELS = 8
# Silence around the speech that an upload may carry beyond voice_max_s; it is trimmed off.
SILENCE_MARGIN_S = 30.0


class ReferenceAudioError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True, frozen=True)
class ReferenceAudio:
    samples: Samples
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    def to_pcm_s16le(self) -> bytes:
        return bytes((np.clip(self.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())

    @staticmethod
    def from_pcm_s16le(pcm: bytes, sample_rate_hz: int) -> ReferenceAudio:
        samples = (np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)
        return ReferenceAudio(samples, sample_rate_hz)


def _check_stream(stream: av.audio.stream.AudioStream) -> None:
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate or not MIN_SOURCE_RATE_HZ <= rate <= MAX_SOURCE_RATE_HZ:
        raise ReferenceAudioError("invalid_audio", f"the audio's sample rate is {rate or 0} Hz; "
                                  f"{MIN_SOURCE_RATE_HZ}-{MAX_SOURCE_RATE_HZ} Hz is supported")
    channels = stream.codec_context.channels
    if not 1 <= channels <= MAX_CHANNELS:
        raise ReferenceAudioError("invalid_audio", f"the audio has {channels} channels; at most {MAX_CHANNELS}")


def _check_frame(frame: av.AudioFrame) -> None:
    """A frame may declare a rate or layout of its own, whatever the stream said."""
    if not MIN_SOURCE_RATE_HZ <= frame.sample_rate <= MAX_SOURCE_RATE_HZ:
        raise ReferenceAudioError("invalid_audio", f"the audio's sample rate is {frame.sample_rate} Hz; "
                                  f"{MIN_SOURCE_RATE_HZ}-{MAX_SOURCE_RATE_HZ} Hz is supported")
    if not 1 <= len(frame.layout.channels) <= MAX_CHANNELS:
        raise ReferenceAudioError("invalid_audio", f"the audio has more than {MAX_CHANNELS} channels")


def decode_audio(data: bytes, rate_hz: int = REFERENCE_RATE_HZ, *, max_s: float = MAX_DECODED_S) -> Samples:
    """Decode any container/codec PyAV knows into mono float32 at ``rate_hz``.

    Bounded by what is decoded, not by what the header claims: sample rate and channel count are checked on the
    stream and on every frame before it is resampled, and a recording longer than ``max_s`` is refused as soon as
    the decoder passes that mark.
    """
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise ReferenceAudioError("invalid_audio", "the file is not audio in a format we can read") from exc
    try:
        if not container.streams.audio:
            raise ReferenceAudioError("invalid_audio", "the file has no audio stream")
        stream = container.streams.audio[0]
        _check_stream(stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
        parts: list[Samples] = []
        decoded_s = 0.0
        try:
            for frame in container.decode(stream):
                _check_frame(frame)
                decoded_s += frame.samples / frame.sample_rate
                if decoded_s > max_s:
                    raise ReferenceAudioError("audio_too_long", f"the recording is longer than {max_s:g} s")
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
        except (av.error.FFmpegError, ValueError) as exc:
            if not parts:
                raise ReferenceAudioError("invalid_audio", "the audio could not be decoded (corrupt file?)") from exc
    finally:
        container.close()
    if not parts:
        raise ReferenceAudioError("invalid_audio", "the file contains no audio samples")
    samples: Samples = np.concatenate(parts).astype(np.float32)
    if not np.all(np.isfinite(samples)):
        raise ReferenceAudioError("invalid_audio", "the audio contains invalid samples")
    return samples


def _frame_db(samples: Samples, frame: int) -> npt.NDArray[np.float64]:
    n = len(samples) // frame
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * frame].reshape(n, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-20)
    db: npt.NDArray[np.float64] = 20 * np.log10(rms)
    return db


def trim_silence(samples: Samples, rate_hz: int) -> Samples:
    frame = rate_hz * _FRAME_MS // 1000
    db = _frame_db(samples, frame)
    if len(db) == 0:
        return samples[:0]
    threshold = max(_SILENCE_FLOOR_DB, float(db.max()) - _SILENCE_BELOW_PEAK_DB)
    active = np.flatnonzero(db > threshold)
    if len(active) == 0:
        return samples[:0]
    start = max(0, (active[0] - 1) * frame)
    end = min(len(samples), (active[-1] + 2) * frame)
    return samples[start:end]


def normalize_loudness(samples: Samples, rate_hz: int) -> Samples:
    frame = rate_hz * _FRAME_MS // 1000
    db = _frame_db(samples, frame)
    speech = db[db > db.max() - 30] if len(db) else db
    level_db = 10 * np.log10(np.mean(10 ** (speech / 10))) if len(speech) else -100.0
    gain = 10 ** ((_TARGET_RMS_DB - level_db) / 20)
    out = samples * gain
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > _PEAK_CEILING:
        out = out * (_PEAK_CEILING / peak)
    normalized: Samples = out.astype(np.float32)
    return normalized


def prepare_reference(data: bytes, *, min_s: float, max_s: float) -> ReferenceAudio:
    """Decode, trim and normalize an upload, enforcing ``min_s``..``max_s`` of speech."""
    samples = decode_audio(data, max_s=min(MAX_DECODED_S, max_s + SILENCE_MARGIN_S))
    trimmed = trim_silence(samples, REFERENCE_RATE_HZ)
    if len(trimmed) == 0 or float(np.max(np.abs(trimmed))) < 10 ** (_SILENCE_FLOOR_DB / 20):
        raise ReferenceAudioError("silent_audio", "the recording is silent: no speech was found")
    duration = len(trimmed) / REFERENCE_RATE_HZ
    # Rounded away from the limit, so the number shown never seems to satisfy it (2.996 s is "2.99", not "3.00").
    if duration < min_s:
        shown = math.floor(duration * 100) / 100
        raise ReferenceAudioError(
            "audio_too_short", f"{shown:.2f} s of speech after trimming silence; at least {min_s:g} s needed"
        )
    if duration > max_s:
        shown = math.ceil(duration * 100) / 100
        raise ReferenceAudioError(
            "audio_too_long", f"{shown:.2f} s of speech after trimming silence; at most {max_s:g} s allowed"
        )
    return ReferenceAudio(normalize_loudness(trimmed, REFERENCE_RATE_HZ), REFERENCE_RATE_HZ)
