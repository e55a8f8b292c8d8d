"""Level control that needs no state, so it can run on any block of a stream."""

from __future__ import annotations

import numpy as np

from synthesis.interfaces import Samples

LIMIT_KNEE = 10 ** (-6.0 / 20)
# Below full scale so lossy codecs (Opus, MP3) have room to overshoot without clipping on decode.
LIMIT_CEILING = 10 ** (-1.0 / 20)


def soft_limit(x: Samples, knee: float = LIMIT_KNEE, ceiling: float = LIMIT_CEILING) -> Samples:
    """Identity below ``knee``; above it a tanh curve that approaches ``ceiling`` and never passes it."""
    mag = np.abs(x)
    over = mag > knee
    if not np.any(over):
        return x
    room = ceiling - knee
    out = x.copy()
    out[over] = np.sign(x[over]) * (knee + room * np.tanh((mag[over] - knee) / room))
    return out.astype(np.float32)
