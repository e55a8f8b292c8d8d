"""Base-voice statistics kept on disk: the Kokoro calibration takes seconds of compute at every start otherwise."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from synthesis.embedded.voice_stats import VoiceStats

_VERSION = 1


def stats_path(cache_dir: Path, *parts: str) -> Path:
    """One file per (model, voice, language, calibration text, ...): any change names a new file."""
    key = hashlib.sha256("\0".join((str(_VERSION), *parts)).encode()).hexdigest()[:24]
    return cache_dir / f"stats-{key}.npz"


def load_stats(path: Path) -> VoiceStats | None:
    """The stored statistics, or None when absent or unreadable (they are then computed again)."""
    try:
        with np.load(path) as f:
            scalars = f["scalars"]
            return VoiceStats(log_f0_mean=float(scalars[0]), log_f0_std=float(scalars[1]),
                              median_f0_hz=float(scalars[2]), log_envelope=np.asarray(f["envelope"], np.float64),
                              voiced_frames=int(scalars[3]))
    except (OSError, KeyError, ValueError, IndexError):
        return None


def save_stats(path: Path, stats: VoiceStats) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    scalars = np.array([stats.log_f0_mean, stats.log_f0_std, stats.median_f0_hz, stats.voiced_frames], np.float64)
    np.savez(partial, scalars=scalars, envelope=stats.log_envelope)
    partial.replace(path)
