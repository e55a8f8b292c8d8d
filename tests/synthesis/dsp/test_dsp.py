from __future__ import annotations

import numpy as np
import pytest

from synthesis.dsp.crossfade import fade_windows, rms_dbfs, sola_offset
from synthesis.dsp.resample import StreamResampler, resample


def _tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_resample_keeps_pitch_and_duration() -> None:
    y = resample(_tone(22050, 1.0), 22050, 24000)
    assert y.dtype == np.float32 and abs(len(y) - 24000) <= 1
    assert abs(_peak_hz(y, 24000) - 440.0) < 2.0


def test_stream_resampler_matches_one_shot_length() -> None:
    x = _tone(48000, 1.0)
    stream = StreamResampler(48000, 16000)
    parts = [stream.process(x[i : i + 960]) for i in range(0, len(x), 960)] + [stream.flush()]
    y = np.concatenate(parts)
    assert abs(len(y) - 16000) <= 2
    assert abs(_peak_hz(y, 16000) - 440.0) < 2.0
    same = StreamResampler(16000, 16000)
    assert np.array_equal(same.process(x[:100]), x[:100])


@pytest.mark.parametrize("shape", ["sin2", "equal_power"])
def test_fade_windows(shape: str) -> None:
    fade_in, fade_out = fade_windows(240, shape)  # type: ignore[arg-type]
    assert fade_in[0] < 0.01 and fade_in[-1] > 0.99 and np.all(np.diff(fade_in) > 0)
    total = fade_in + fade_out if shape == "sin2" else fade_in**2 + fade_out**2
    assert np.allclose(total, 1.0, atol=1e-6)


def test_sola_finds_the_shift() -> None:
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(2000).astype(np.float32)
    reference = noise[500:740]
    assert sola_offset(noise[463:], reference, search=240) == 37
    assert sola_offset(noise, np.zeros(240, dtype=np.float32), search=240) == 0


def test_rms_dbfs() -> None:
    assert rms_dbfs(np.zeros(10, dtype=np.float32)) == float("-inf")
    assert rms_dbfs(np.ones(10, dtype=np.float32)) == pytest.approx(0.0)
