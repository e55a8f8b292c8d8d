from __future__ import annotations

import math

import numpy as np
import pytest

from synthesis.embedded import world
from synthesis.embedded.voice_stats import analyze_voice, warp_frequency
from synthesis.embedded.world_matcher import WorldMatcher
from synthesis.interfaces import Converter, Samples
from tests.synthesis.embedded.conftest import RATE_HZ, median_f0_hz


def _run(matcher: WorldMatcher, x: Samples, chunk: int = 1000) -> tuple[Samples, int]:
    """Stream ``x`` through in odd-sized chunks; returns (output, largest count lag seen)."""
    outs, lag = [], 0
    for start in range(0, len(x), chunk):
        outs.append(matcher.process(x[start : start + chunk]))
        lag = max(lag, (start + len(x[start : start + chunk])) - sum(len(o) for o in outs))
    outs.append(matcher.flush())
    return np.concatenate(outs), lag


def _check_audio(y: Samples, x: Samples) -> None:
    assert np.all(np.isfinite(y))
    assert float(np.max(np.abs(y))) <= 1.0
    rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
    assert 0.3 * rms_in < rms_out < 3.0 * rms_in


def test_analyze_voice_reads_pitch(piper_speech: Samples, high_voice: tuple[Samples, int]) -> None:
    source = analyze_voice(piper_speech, RATE_HZ)
    target = analyze_voice(*high_voice)
    assert target.median_f0_hz > 1.5 * source.median_f0_hz
    assert source.voiced_frames > 100 and 0.0 < source.log_f0_std < 1.0
    assert source.log_envelope.shape == target.log_envelope.shape
    with pytest.raises(ValueError):
        analyze_voice(np.zeros(RATE_HZ * 2, dtype=np.float32), RATE_HZ)


@pytest.mark.parametrize("online", [False, True])
def test_moves_f0_toward_the_target(piper_speech: Samples, high_voice: tuple[Samples, int], online: bool) -> None:
    source = analyze_voice(piper_speech, RATE_HZ)
    target = analyze_voice(*high_voice)
    matcher = WorldMatcher(target, None if online else source, sample_rate_hz=RATE_HZ, compensate_delay=True)
    assert isinstance(matcher, Converter)
    y, lag = _run(matcher, piper_speech)

    assert len(y) == len(piper_speech)
    assert lag <= matcher.block_samples + int(0.02 * RATE_HZ)
    _check_audio(y, piper_speech)
    out_f0 = median_f0_hz(y, RATE_HZ)
    before = abs(math.log(source.median_f0_hz / target.median_f0_hz))
    after = abs(math.log(out_f0 / target.median_f0_hz))
    assert after < 0.35 * before


def test_no_target_only_shifts_pitch(piper_speech: Samples) -> None:
    matcher = WorldMatcher(None, None, sample_rate_hz=RATE_HZ, pitch_semitones=5.0, block_ms=40.0)
    y, _ = _run(matcher, piper_speech, chunk=480)
    assert len(y) == len(piper_speech) + int(0.02 * RATE_HZ)
    _check_audio(y, piper_speech)
    # Frame by frame on the delay-aligned output: a median over whole utterances drifts with Piper's random prosody.
    delay = int(0.02 * RATE_HZ)
    f0_in, _ = world.track_f0(piper_speech.astype(np.float64), RATE_HZ)
    f0_out, _ = world.track_f0(y[delay:].astype(np.float64), RATE_HZ)
    n = min(len(f0_in), len(f0_out))
    both = (f0_in[:n] > 0) & (f0_out[:n] > 0)
    assert int(both.sum()) > 100
    shift = float(np.median(12.0 * np.log2(f0_out[:n][both] / f0_in[:n][both])))
    assert 4.5 < shift < 5.5


@pytest.mark.parametrize("method", ["dio", "harvest"])
def test_f0_refined_from_a_frame_on_is_the_tail_of_the_whole_contour(piper_speech: Samples,
                                                                     method: world.F0Method) -> None:
    x = piper_speech[: RATE_HZ // 2].astype(np.float64)
    whole, whole_times = world.track_f0(x, RATE_HZ, method)
    tail, tail_times = world.track_f0(x, RATE_HZ, method, from_frame=60)
    assert np.count_nonzero(whole[60:]) > 10
    assert np.array_equal(tail, whole[60:]) and np.array_equal(tail_times, whole_times[60:])


def test_latency_reports_block_plus_join() -> None:
    matcher = WorldMatcher(None, sample_rate_hz=RATE_HZ, block_ms=80.0)
    assert matcher.latency_ms == pytest.approx(100.0)


def test_warp_moves_spectral_peaks() -> None:
    spectrum = np.zeros((1, 513))
    spectrum[0, 100] = 1.0
    assert int(np.argmax(warp_frequency(spectrum, 1.2))) == 120
    assert int(np.argmax(warp_frequency(spectrum, 0.8))) == 80
