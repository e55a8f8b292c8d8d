"""Sample-rate conversion: one-shot for whole clips, streaming for live audio."""

from __future__ import annotations

import numpy as np
import soxr

from synthesis.interfaces import Samples


def resample(samples: Samples, from_hz: int, to_hz: int) -> Samples:
    """Resample a whole mono clip; returns float32."""
    x = np.asarray(samples, dtype=np.float32)
    if from_hz == to_hz or len(x) == 0:
        return x.copy()
    out: Samples = soxr.resample(x, from_hz, to_hz, quality="HQ").astype(np.float32, copy=False)
    return out


class StreamResampler:
    """Resamples a mono stream chunk by chunk with filter state kept between chunks."""

    def __init__(self, from_hz: int, to_hz: int) -> None:
        self.from_hz = from_hz
        self.to_hz = to_hz
        self._stream = None if from_hz == to_hz else soxr.ResampleStream(from_hz, to_hz, 1, dtype="float32")

    def process(self, samples: Samples, *, last: bool = False) -> Samples:
        x = np.asarray(samples, dtype=np.float32)
        if self._stream is None:
            return x.copy()
        out: Samples = self._stream.resample_chunk(x, last=last)
        return out

    def flush(self) -> Samples:
        return self.process(np.zeros(0, dtype=np.float32), last=True)
