"""Crossfade windows and the SOLA offset search used to join independently processed blocks."""

from __future__ import annotations

from typing import Literal

import numpy as np

from synthesis.interfaces import Samples

CrossfadeShape = Literal["sin2", "equal_power"]


def fade_windows(length: int, shape: CrossfadeShape = "sin2") -> tuple[Samples, Samples]:
    """(fade_in, fade_out) of ``length`` samples.

    ``sin2`` keeps amplitude constant (fade_in + fade_out == 1), right for correlated signals such as SOLA-aligned
    joins; ``equal_power`` keeps power constant (fade_in² + fade_out² == 1), right for uncorrelated signals.
    """
    t = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    if shape == "sin2":
        fade_in = np.sin(0.5 * np.pi * t) ** 2
        fade_out = 1.0 - fade_in
    elif shape == "equal_power":
        fade_in = np.sin(0.5 * np.pi * t)
        fade_out = np.cos(0.5 * np.pi * t)
    else:
        raise ValueError(f"unknown crossfade shape {shape!r}")
    return fade_in.astype(np.float32), fade_out.astype(np.float32)


def sola_offset(candidate: Samples, reference: Samples, search: int) -> int:
    """Offset in ``[0, search]`` where ``candidate[offset:offset+len(reference)]`` best matches ``reference``.

    Normalized cross-correlation: the dot product with ``reference`` divided by the candidate segment's energy, so a
    loud stretch does not win just by being loud. Returns 0 when there is nothing to match against.
    """
    n = len(reference)
    if search <= 0 or n == 0:
        return 0
    segment = np.asarray(candidate[: n + search], dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if len(segment) < n + search:
        raise ValueError("candidate is shorter than reference + search")
    if not np.any(ref):
        return 0
    dots = np.correlate(segment, ref, mode="valid")
    energy = np.convolve(segment * segment, np.ones(n), mode="valid")
    score = dots / np.sqrt(energy + 1e-8)
    return int(np.argmax(score))


def rms_dbfs(samples: Samples) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence)."""
    if len(samples) == 0:
        return float("-inf")
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * float(np.log10(power)) if power > 0 else float("-inf")
