"""Long-term statistics of a voice that the WORLD matcher maps between: log-F0 mean/std and the mean log envelope."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from synthesis.dsp.resample import resample
from synthesis.embedded import world
from synthesis.embedded.world import F0Method, Float64
from synthesis.interfaces import Samples

STATS_RATE_HZ = 24000
ENVELOPE_MAX_HZ = STATS_RATE_HZ / 2
MIN_VOICED_FRAMES = 20
MAX_ANALYSIS_S = 12.0
MAX_ENVELOPE_FRAMES = 300
ANALYSIS_FRAME_PERIOD_MS = 10.0


@dataclass(slots=True, frozen=True)
class VoiceStats:
    log_f0_mean: float
    log_f0_std: float
    median_f0_hz: float
    log_envelope: Float64
    """Mean log power envelope over voiced frames, on ``envelope_grid_hz()`` (0 .. ENVELOPE_MAX_HZ)."""
    voiced_frames: int


def envelope_grid_hz(bins: int = world.fft_size(STATS_RATE_HZ) // 2 + 1) -> Float64:
    return np.linspace(0.0, ENVELOPE_MAX_HZ, bins, dtype=np.float64)


def analyze_voice(samples: Samples, sample_rate_hz: int, *, f0_method: F0Method = "dio") -> VoiceStats:
    """Statistics of the speech in ``samples`` (at most the first 15 s are read). Raises ValueError without speech."""
    x = np.asarray(resample(np.asarray(samples, dtype=np.float32), sample_rate_hz, STATS_RATE_HZ), dtype=np.float64)
    x = x[: int(MAX_ANALYSIS_S * STATS_RATE_HZ)]
    if len(x) < STATS_RATE_HZ // 10 or not np.all(np.isfinite(x)):
        raise ValueError("too little audio to analyze")
    f0, times = world.track_f0(x, STATS_RATE_HZ, f0_method, ANALYSIS_FRAME_PERIOD_MS, dio_speed=4)
    voiced = np.flatnonzero(f0 > 0)
    if len(voiced) < MIN_VOICED_FRAMES:
        raise ValueError("no voiced speech found")
    log_f0 = np.log(f0[voiced])
    picked = voiced[np.linspace(0, len(voiced) - 1, min(len(voiced), MAX_ENVELOPE_FRAMES)).astype(int)]
    sp = world.envelope(x, f0[picked], times[picked], STATS_RATE_HZ)
    return VoiceStats(
        log_f0_mean=float(np.mean(log_f0)),
        log_f0_std=float(np.std(log_f0)),
        median_f0_hz=float(np.median(f0[voiced])),
        log_envelope=np.mean(np.log(sp + 1e-12), axis=0),
        voiced_frames=int(len(voiced)),
    )


class RunningVoiceStats:
    """Statistics accumulated frame by frame from a live stream (Welford for log-F0, a running mean envelope)."""

    def __init__(self, bins: int) -> None:
        self.count = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._envelope_sum = np.zeros(bins, dtype=np.float64)

    def add(self, f0_hz: Float64, log_sp: Float64) -> None:
        """Add voiced frames: their F0 (Hz, all > 0) and log envelopes (frames x bins, on the caller's bins)."""
        values = np.log(f0_hz)
        if len(values):
            batch_mean = float(np.mean(values))
            total = self.count + len(values)
            delta = batch_mean - self._mean
            self._m2 += float(np.sum((values - batch_mean) ** 2)) + delta * delta * self.count * len(values) / total
            self._mean += delta * len(values) / total
            self.count = total
        if len(log_sp):
            self._envelope_sum += np.sum(log_sp, axis=0)

    @property
    def log_f0_mean(self) -> float:
        return self._mean

    @property
    def log_f0_std(self) -> float:
        return float(np.sqrt(self._m2 / self.count)) if self.count > 1 else 0.0

    @property
    def log_envelope(self) -> Float64:
        return self._envelope_sum / max(self.count, 1)


def envelope_on_bins(stats_envelope: Float64, bins_hz: Float64) -> Float64:
    """A stats envelope (on ``envelope_grid_hz``) read at other frequencies; held flat above its top."""
    grid = envelope_grid_hz(len(stats_envelope))
    return np.interp(bins_hz, grid, stats_envelope)


def warp_frequency(spectra: Float64, alpha: float) -> Float64:
    """Frequency warp along the last axis: output bin k reads input bin k/alpha (alpha > 1 moves formants up)."""
    bins = spectra.shape[-1]
    src = np.arange(bins, dtype=np.float64) / alpha
    src = np.clip(src, 0.0, bins - 1.0)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    out: Float64 = spectra[..., lo] * (1.0 - frac) + spectra[..., hi] * frac
    return out


@functools.lru_cache(maxsize=8)
def mel_smoothing_matrix(sample_rate_hz: int, fft_size: int, sigma_mel: float = 60.0) -> Float64:
    """Row-normalized Gaussian smoothing over the mel scale of rfft bins: fine at low frequencies, broad at high.

    Cached and read-only: every matcher at one rate shares it.
    """
    bins_hz = np.arange(fft_size // 2 + 1) * sample_rate_hz / fft_size
    mel = 2595.0 * np.log10(1.0 + bins_hz / 700.0)
    weights = np.exp(-0.5 * ((mel[None, :] - mel[:, None]) / sigma_mel) ** 2)
    out: Float64 = weights / np.sum(weights, axis=1, keepdims=True)
    out.flags.writeable = False
    return out
