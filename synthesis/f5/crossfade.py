"""Joining separately generated batches into one continuous stream with raised-cosine crossfades.

To crossfade while streaming, the last ``overlap`` samples of each batch are held back until the next batch arrives
(or the stream ends); everything before them leaves at once.
"""

from __future__ import annotations

import numpy as np

from synthesis.interfaces import Samples


def _fade_in(n: int) -> Samples:
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


class CrossfadeJoiner:
    """``push(batch) -> samples ready to send``; ``finish() -> the held-back tail``. Fade gains sum to one."""

    def __init__(self, overlap_samples: int) -> None:
        self._overlap = max(0, overlap_samples)
        self._tail: Samples = np.zeros(0, dtype=np.float32)
        self._started = False

    def push(self, batch: Samples) -> Samples:
        batch = np.asarray(batch, dtype=np.float32)
        if self._started and len(self._tail) and len(batch):
            n = min(len(self._tail), len(batch))
            fade = _fade_in(n)
            mixed = self._tail[:n] * (1.0 - fade) + batch[:n] * fade
            # At most one of the two remainders is non-empty (a batch shorter than the overlap leaves tail over).
            joined: Samples = np.concatenate([mixed, self._tail[n:], batch[n:]])
        else:
            joined = np.concatenate([self._tail, batch])
        self._started = True
        keep = min(self._overlap, len(joined))
        self._tail = joined[len(joined) - keep:].copy()
        return joined[: len(joined) - keep]

    def finish(self) -> Samples:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        return tail
