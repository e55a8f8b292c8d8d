from __future__ import annotations

import numpy as np

from synthesis.f5.crossfade import CrossfadeJoiner

RATE = 24000


def _sine(seconds: float, freq: float, phase: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def _join(joiner: CrossfadeJoiner, batches: list[np.ndarray]) -> np.ndarray:
    out = [joiner.push(b) for b in batches]
    out.append(joiner.finish())
    return np.concatenate(out)


def test_length_is_the_sum_minus_the_overlaps() -> None:
    batches = [_sine(0.5, 220, 0), _sine(0.7, 220, 1), _sine(0.3, 220, 2)]
    out = _join(CrossfadeJoiner(2400), batches)
    assert len(out) == sum(len(b) for b in batches) - 2 * 2400


def test_joins_have_no_jump() -> None:
    # Two batches that do not line up: a hard cut jumps by ~0.5 between neighbouring samples.
    a, b = _sine(0.5, 220, 0.0), _sine(0.5, 220, np.pi / 2)
    cut = np.concatenate([a, b])
    assert np.max(np.abs(np.diff(cut))) > 0.4
    out = _join(CrossfadeJoiner(2400), [a, b])
    inside = np.max(np.abs(np.diff(a)))
    assert np.max(np.abs(np.diff(out))) <= inside * 1.05


def test_gains_sum_to_one() -> None:
    ones = np.ones(4800, dtype=np.float32)
    out = _join(CrossfadeJoiner(1200), [ones, ones, ones])
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


def test_audio_leaves_before_the_next_batch_exists() -> None:
    joiner = CrossfadeJoiner(1000)
    first = joiner.push(np.ones(5000, dtype=np.float32))
    assert len(first) == 4000
    assert len(joiner.finish()) == 1000


def test_a_batch_shorter_than_the_overlap_is_still_joined() -> None:
    joiner = CrossfadeJoiner(1000)
    parts = [joiner.push(np.ones(3000, dtype=np.float32)), joiner.push(np.ones(400, dtype=np.float32)),
             joiner.push(np.ones(3000, dtype=np.float32)), joiner.finish()]
    out = np.concatenate(parts)
    assert len(out) == 3000 + 400 + 3000 - 400 - 1000
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
