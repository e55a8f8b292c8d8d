"""Tempo change without a pitch change (WSOLA): for speeds an engine cannot reach by itself intelligibly."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from synthesis.interfaces import Samples

FRAME_MS = 30.0  # a few pitch periods of a low voice: long enough to carry pitch, short enough to follow phonemes
SEARCH_MS = 8.0  # up to one period of a 125 Hz voice either side


def time_stretch(audio: Samples, rate: float, sample_rate_hz: int) -> Samples:
    """``audio`` played ``rate`` times as fast (``rate`` > 1: shorter), at the same pitch.

    Frames overlap by half in the output; each is taken near its nominal input position where it best continues the
    frame before (cross-correlation within ``SEARCH_MS``), so periods line up and no phase jumps are heard. Audio
    shorter than two frames (60 ms) comes back unchanged."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    x = np.asarray(audio, dtype=np.float32)
    frame = int(FRAME_MS * sample_rate_hz / 1000) & ~1
    if rate == 1.0 or len(x) < 2 * frame:
        return x.copy()
    hop_out = frame // 2
    search = int(SEARCH_MS * sample_rate_hz / 1000)
    out_len = int(round(len(x) / rate))
    n_frames = out_len // hop_out + 1
    padded = np.concatenate([np.zeros(search, np.float32), x, np.zeros(frame + search + int(rate * hop_out) + 1,
                                                                         np.float32)])
    window = np.hanning(frame).astype(np.float32)
    out = np.zeros(n_frames * hop_out + frame, dtype=np.float32)
    weight = np.zeros_like(out)
    prev = search  # where the previous frame was taken (in ``padded``)
    for k in range(n_frames):
        nominal = search + int(round(k * hop_out * rate))
        if k == 0:
            start = nominal
        else:
            target = padded[prev + hop_out : prev + hop_out + frame]  # what would naturally follow the last frame
            region = padded[nominal - search : nominal + search + frame]
            scores = sliding_window_view(region, frame) @ target
            start = nominal - search + int(np.argmax(scores))
        out[k * hop_out : k * hop_out + frame] += window * padded[start : start + frame]
        weight[k * hop_out : k * hop_out + frame] += window
        prev = start
    out = out[:out_len] / np.maximum(weight[:out_len], 1e-3)
    clipped: Samples = np.clip(out, -1.0, 1.0).astype(np.float32)
    return clipped
