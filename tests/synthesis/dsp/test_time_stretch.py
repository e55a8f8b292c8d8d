"""WSOLA tempo change: length follows the rate, pitch and level stay, frames join without steps."""

from __future__ import annotations

import numpy as np
import pytest

from synthesis.dsp.time_stretch import time_stretch

RATE_HZ = 24000


def _tone(freq_hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * RATE_HZ / len(audio))


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.6, 2.0])
def test_length_follows_the_rate_and_pitch_and_level_stay(rate: float) -> None:
    tone = _tone(180.0, 2.0)
    out = time_stretch(tone, rate, RATE_HZ)
    assert len(out) == round(len(tone) / rate)
    assert abs(_peak_hz(out) - 180.0) < 2.0
    middle = out[2000:-2000]
    assert abs(float(np.sqrt(np.mean(middle ** 2))) - 0.5 / np.sqrt(2)) < 0.02
    # One sample to the next never moves more than the tone itself can (no seams between frames).
    assert float(np.max(np.abs(np.diff(middle)))) <= 2 * np.pi * 180.0 / RATE_HZ * 0.5 * 1.05


def test_a_gliding_voice_keeps_its_glide() -> None:
    t = np.arange(RATE_HZ) / RATE_HZ
    glide = (0.5 * np.sin(2 * np.pi * (120.0 * t + 60.0 * t ** 2))).astype(np.float32)  # 120 -> 240 Hz
    out = time_stretch(glide, 0.5, RATE_HZ)
    quarter = len(out) // 4
    assert _peak_hz(out[:quarter]) < 160.0 < 200.0 < _peak_hz(out[-quarter:])


def test_short_or_unchanged_input_comes_back_as_it_was() -> None:
    tone = _tone(200.0, 0.02)
    assert np.array_equal(time_stretch(tone, 2.0, RATE_HZ), tone)
    longer = _tone(200.0, 1.0)
    assert np.array_equal(time_stretch(longer, 1.0, RATE_HZ), longer)
    with pytest.raises(ValueError):
        time_stretch(longer, 0.0, RATE_HZ)
