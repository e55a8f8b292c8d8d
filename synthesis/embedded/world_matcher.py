"""Zero-shot voice matcher on the WORLD vocoder: a timbre and pitch nudge toward a target voice, block by block.

Per block: F0 (dio, or harvest) over the whole window; its refinement (stonemask), envelope and aperiodicity only for
the frames that reach the output; F0 mapped to the target's log-F0 mean/std (plus a pitch shift); envelope
frequency-warped by alpha = (F0_target / F0_source) ** 0.25 and equalized toward the target's long-term envelope;
resynthesis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthesis.block_processor import BlockConfig, BlockProcessor
from synthesis.dsp.dynamics import soft_limit
from synthesis.embedded import world
from synthesis.embedded.voice_stats import (
    RunningVoiceStats,
    VoiceStats,
    envelope_on_bins,
    mel_smoothing_matrix,
    warp_frequency,
)
from synthesis.embedded.world import F0Method, Float64
from synthesis.interfaces import Samples

STD_RATIO_LIMITS = (0.5, 2.0)
WARP_LIMITS = (0.8, 1.25)
EQ_LIMIT_LOG = math.log(10 ** (12.0 / 10.0))  # +-12 dB on the power envelope
F0_OUT_LIMITS_HZ = (40.0, 1100.0)
SYNTH_MARGIN_MS = 10.0
DIO_SPEED = 2
APERIODICITY_STRIDE = 2
ONLINE_FULL_STRENGTH_FRAMES = 200  # 1 s of voiced 5 ms frames before online statistics are fully trusted
ONLINE_STD_MIN_FRAMES = 60


@dataclass(slots=True, frozen=True)
class _Mapping:
    source_log_f0_mean: float
    std_ratio: float
    alpha: float
    eq_log: Float64 | None


class WorldMatcher:
    """Converter that moves speech toward ``target``; ``target=None`` keeps the voice and applies only the pitch shift.

    With ``source=None`` the source voice's statistics are learned online from the stream itself (a live mic).
    """

    def __init__(
        self,
        target: VoiceStats | None,
        source: VoiceStats | None = None,
        *,
        sample_rate_hz: int = 24000,
        pitch_semitones: float = 0.0,
        block_ms: float = 80.0,
        context_ms: float = 200.0,
        crossfade_ms: float = 10.0,
        search_ms: float = 10.0,
        f0_method: F0Method = "dio",
        gate_dbfs: float | None = None,
        compensate_delay: bool = False,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._target = target
        self._pitch_ratio = 2.0 ** (pitch_semitones / 12.0)
        self._f0_method: F0Method = f0_method
        self._hop = sample_rate_hz * world.FRAME_PERIOD_MS / 1000.0
        fft = world.fft_size(sample_rate_hz)
        bins_hz = np.arange(fft // 2 + 1) * sample_rate_hz / fft
        self._smooth = mel_smoothing_matrix(sample_rate_hz, fft)
        self._target_env = envelope_on_bins(target.log_envelope, bins_hz) if target is not None else None
        self._running = RunningVoiceStats(len(bins_hz)) if source is None else None
        self._fixed: _Mapping | None = None
        if source is not None:
            self._fixed = self._mapping(
                source.log_f0_mean, source.log_f0_std, source.median_f0_hz,
                envelope_on_bins(source.log_envelope, bins_hz), strength=1.0,
            )
        self._processor = BlockProcessor(
            BlockConfig(
                sample_rate_hz=sample_rate_hz, block_ms=block_ms, context_ms=context_ms, crossfade_ms=crossfade_ms,
                search_ms=search_ms, gate_dbfs=gate_dbfs, compensate_delay=compensate_delay,
            ),
            self._transform,
        )

    @property
    def latency_ms(self) -> float:
        return self._processor.latency_ms

    @property
    def block_samples(self) -> int:
        return self._processor.config.block_samples

    def process(self, block: Samples) -> Samples:
        return self._processor.process(block)

    def flush(self) -> Samples:
        return self._processor.flush()

    def _mapping(
        self, log_f0_mean: float, log_f0_std: float, f0_hz: float, source_env: Float64 | None, strength: float
    ) -> _Mapping:
        target = self._target
        if target is None or self._target_env is None:
            return _Mapping(log_f0_mean, 1.0, 1.0, None)
        std_ratio = 1.0
        if log_f0_std > 0:
            std_ratio = float(np.clip(target.log_f0_std / log_f0_std, *STD_RATIO_LIMITS))
        alpha = float(np.clip((target.median_f0_hz / f0_hz) ** 0.25, *WARP_LIMITS)) ** strength
        eq_log = None
        if source_env is not None:
            warped = warp_frequency(source_env, alpha)
            eq = np.clip(self._smooth @ (self._target_env - warped), -EQ_LIMIT_LOG, EQ_LIMIT_LOG) * strength
            # Keep the overall level: unit gain on the source's long-term power.
            power = np.exp(warped - np.max(warped))
            eq_log = eq - math.log(float(np.sum(power * np.exp(eq)) / np.sum(power)))
        return _Mapping(log_f0_mean, std_ratio, alpha, eq_log)

    def _online_mapping(self, window_log_f0: Float64) -> _Mapping:
        running = self._running
        assert running is not None
        if running.count == 0:
            if len(window_log_f0) == 0:
                return _Mapping(0.0, 1.0, 1.0, None)
            mean = float(np.mean(window_log_f0))
            return self._mapping(mean, 0.0, math.exp(mean), None, strength=0.0)
        strength = min(1.0, running.count / ONLINE_FULL_STRENGTH_FRAMES)
        std = running.log_f0_std if running.count >= ONLINE_STD_MIN_FRAMES else 0.0
        return self._mapping(running.log_f0_mean, std, math.exp(running.log_f0_mean), running.log_envelope, strength)

    def _transform(self, window: Samples) -> Samples:
        fs = self.sample_rate_hz
        x = window.astype(np.float64)
        length = len(x)
        cfg = self._processor.config
        tail_start = length - cfg.tail_samples
        first = max(0, int((tail_start - SYNTH_MARGIN_MS * fs / 1000.0) // self._hop))
        f0, times = world.track_f0(x, fs, self._f0_method, dio_speed=DIO_SPEED, from_frame=first)
        sp = world.envelope(x, f0, times, fs)
        ap = world.aperiodicity(x, f0, times, fs, stride=APERIODICITY_STRIDE)
        voiced = f0 > 0

        if self._running is not None:
            position = times * fs
            fresh = voiced & (position >= tail_start) & (position < tail_start + cfg.block_samples)
            self._running.add(f0[fresh], np.log(sp[fresh] + 1e-12))
            mapping = self._online_mapping(np.log(f0[voiced]))
        else:
            assert self._fixed is not None or self._target is None
            mapping = self._fixed or _Mapping(0.0, 1.0, 1.0, None)

        f0_out = f0.copy()
        if np.any(voiced):
            log_f0 = np.log(f0[voiced])
            if self._target is not None:
                log_f0 = self._target.log_f0_mean + (log_f0 - mapping.source_log_f0_mean) * mapping.std_ratio
            f0_out[voiced] = np.clip(np.exp(log_f0) * self._pitch_ratio, *F0_OUT_LIMITS_HZ)
        if mapping.alpha != 1.0:
            sp = warp_frequency(sp, mapping.alpha)
        if mapping.eq_log is not None:
            sp = sp * np.exp(mapping.eq_log)[None, :]

        y = world.synthesize(f0_out, sp, ap, fs)
        out = np.zeros(length, dtype=np.float32)
        start = int(round(times[0] * fs))
        n = max(0, min(len(y), length - start))
        out[start : start + n] = y[:n]
        return soft_limit(np.nan_to_num(out))
