"""Thin typed access to the WORLD vocoder (``pyworld``) with the analysis settings every caller here shares."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

with warnings.catch_warnings():
    # pyworld imports pkg_resources at import time, which warns on setuptools >= 67.
    warnings.simplefilter("ignore")
    import pyworld as _pw

Float64 = npt.NDArray[np.float64]
F0Method = Literal["dio", "harvest"]

FRAME_PERIOD_MS = 5.0
F0_FLOOR_HZ = 71.0
F0_CEIL_HZ = 800.0

pw: Any = _pw


def fft_size(sample_rate_hz: int) -> int:
    return int(pw.get_cheaptrick_fft_size(sample_rate_hz, F0_FLOOR_HZ))


def track_f0(
    x: Float64, sample_rate_hz: int, method: F0Method = "dio", frame_period_ms: float = FRAME_PERIOD_MS,
    dio_speed: int = 1, from_frame: int = 0,
) -> tuple[Float64, Float64]:
    """(f0_hz per frame, 0 where unvoiced; frame times in seconds). ``dio_speed`` > 1 decimates inside dio.
    The contour is tracked over all of ``x`` but refined and returned only from ``from_frame`` on (the refinement is
    per frame: the frames returned are the same either way)."""
    if method == "dio":
        f0, times = pw.dio(x, sample_rate_hz, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=frame_period_ms,
                           speed=dio_speed)
    elif method == "harvest":
        f0, times = pw.harvest(x, sample_rate_hz, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ,
                               frame_period=frame_period_ms)
    else:
        raise ValueError(f"unknown F0 method {method!r}")
    f0, times = np.ascontiguousarray(f0[from_frame:]), np.ascontiguousarray(times[from_frame:])
    f0 = pw.stonemask(x, f0, times, sample_rate_hz)
    return np.asarray(f0, dtype=np.float64), np.asarray(times, dtype=np.float64)


def envelope(x: Float64, f0: Float64, times: Float64, sample_rate_hz: int) -> Float64:
    """Spectral envelope (power) per frame: frames x (fft_size/2 + 1)."""
    sp = pw.cheaptrick(x, f0, times, sample_rate_hz, fft_size=fft_size(sample_rate_hz))
    return np.asarray(sp, dtype=np.float64)


def aperiodicity(x: Float64, f0: Float64, times: Float64, sample_rate_hz: int, *, stride: int = 1) -> Float64:
    """Band aperiodicity per frame; with ``stride`` > 1 D4C runs on every stride-th frame (the costliest WORLD step)
    and the frames between are interpolated."""
    n = len(f0)
    picked = np.unique(np.append(np.arange(0, n, max(1, stride)), n - 1)) if n else np.arange(0)
    ap = np.asarray(pw.d4c(x, np.ascontiguousarray(f0[picked]), np.ascontiguousarray(times[picked]), sample_rate_hz,
                           fft_size=fft_size(sample_rate_hz)), dtype=np.float64)
    if len(picked) == n:
        return ap
    frames = np.arange(n)
    hi = np.clip(np.searchsorted(picked, frames), 1, len(picked) - 1)
    lo = hi - 1
    frac = ((frames - picked[lo]) / (picked[hi] - picked[lo]))[:, None]
    out: Float64 = ap[lo] * (1.0 - frac) + ap[hi] * frac
    return out


def synthesize(f0: Float64, sp: Float64, ap: Float64, sample_rate_hz: int,
               frame_period_ms: float = FRAME_PERIOD_MS) -> Float64:
    y = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap),
                      sample_rate_hz, frame_period_ms)
    return np.asarray(y, dtype=np.float64)
