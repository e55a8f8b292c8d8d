"""Streaming audio encoders for the wire: raw PCM, WAV, Ogg/Opus and MP3, each fed float32 chunks as they come."""

from __future__ import annotations

import io
import struct
from typing import Literal

import av
import numpy as np

from synthesis.interfaces import Samples

AudioFormat = Literal["pcm_s16le", "wav", "ogg_opus", "mp3"]
FORMATS: tuple[AudioFormat, ...] = ("pcm_s16le", "wav", "ogg_opus", "mp3")
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 48000
CODEC_RATES_HZ: dict[str, frozenset[int]] = {
    "ogg_opus": frozenset({8000, 12000, 16000, 24000, 48000}),
    "mp3": frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
}
# Ogg pages are flushed every 20 ms instead of the muxer's default second, so audio leaves as it is encoded.
_OGG_PAGE_DURATION_US = "20000"
_STREAMING_WAV_SIZE = 0xFFFFFFFF


def pcm_to_float(data: bytes) -> Samples:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm(samples: Samples) -> bytes:
    """Rounded like libswresample's flt → s16, so this PCM is byte-identical to what ``StreamEncoder`` sends."""
    pcm: bytes = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()
    return pcm


def unsupported_rate_reason(fmt: AudioFormat, rate_hz: int) -> str | None:
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        return f"sample_rate must be between {MIN_RATE_HZ} and {MAX_RATE_HZ}"
    allowed = CODEC_RATES_HZ.get(fmt)
    if allowed is not None and rate_hz not in allowed:
        return f"{fmt} supports sample_rate {', '.join(str(r) for r in sorted(allowed))}"
    return None


def wav_header(rate_hz: int, channels: int = 1, data_bytes: int = _STREAMING_WAV_SIZE) -> bytes:
    """A 44-byte PCM WAV header; sizes are 0xFFFFFFFF while streaming (length unknown)."""
    riff_size = _STREAMING_WAV_SIZE if data_bytes == _STREAMING_WAV_SIZE else 36 + data_bytes
    block_align = 2 * channels
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate_hz, rate_hz * block_align, block_align, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )


class _ByteSink(io.RawIOBase):
    def __init__(self) -> None:
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class StreamEncoder:
    """One per stream: ``encode`` returns the bytes ready to send now; ``finish`` returns the tail."""

    def __init__(self, fmt: AudioFormat, out_rate_hz: int, in_rate_hz: int) -> None:
        self.format = fmt
        self.out_rate_hz = out_rate_hz
        self.in_rate_hz = in_rate_hz
        self._resampler = av.AudioResampler(format="s16" if fmt in ("pcm_s16le", "wav") else "flt",
                                            layout="mono", rate=out_rate_hz)
        self._header_pending = fmt == "wav"
        self._sink: _ByteSink | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None
        if fmt in ("ogg_opus", "mp3"):
            self._sink = _ByteSink()
            if fmt == "ogg_opus":
                self._container = av.open(self._sink, "w", format="ogg",
                                          options={"page_duration": _OGG_PAGE_DURATION_US})
                self._stream = self._container.add_stream("libopus", rate=out_rate_hz, layout="mono")
            else:
                self._container = av.open(self._sink, "w", format="mp3")
                self._stream = self._container.add_stream("libmp3lame", rate=out_rate_hz, layout="mono")
        self._pts = 0

    def encode(self, samples: Samples) -> bytes:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.sample_rate = self.in_rate_hz
        frame.pts = self._pts
        self._pts += len(samples)
        return self._write(self._resampler.resample(frame))

    def finish(self) -> bytes:
        out = self._write(self._resampler.resample(None))
        if self._container is not None and self._stream is not None and self._sink is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            out += self._sink.take()
            self._container = None
        return out

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except (av.error.FFmpegError, ValueError):
                pass
            self._container = None

    def _write(self, frames: list[av.AudioFrame]) -> bytes:
        if self._container is None or self._stream is None or self._sink is None:
            pcm = b"".join(bytes(f.to_ndarray().astype("<i2").tobytes()) for f in frames)
            if self._header_pending:
                self._header_pending = False
                return wav_header(self.out_rate_hz) + pcm
            return pcm
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.take()
