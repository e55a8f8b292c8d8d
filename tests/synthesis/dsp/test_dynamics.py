import numpy as np

from synthesis.dsp.dynamics import LIMIT_CEILING, LIMIT_KNEE, soft_limit


def test_soft_limit_keeps_quiet_audio_and_bounds_loud_audio() -> None:
    quiet = (0.4 * np.sin(np.linspace(0, 60, 4800))).astype(np.float32)
    assert np.array_equal(soft_limit(quiet), quiet)
    loud = (3.0 * np.sin(np.linspace(0, 60, 4800))).astype(np.float32)
    out = soft_limit(loud)
    assert float(np.max(np.abs(out))) < LIMIT_CEILING
    assert np.all(np.sign(out) == np.sign(loud))
    ordered = np.sort(np.abs(loud))
    assert np.all(np.diff(soft_limit(ordered)) >= 0), "the curve must be monotonic"
    just_over = np.array([LIMIT_KNEE + 1e-4], np.float32)
    assert abs(float(soft_limit(just_over)[0]) - float(just_over[0])) < 1e-3, "continuous at the knee"
