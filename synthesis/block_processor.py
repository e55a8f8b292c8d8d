"""A stateful block processor shared by every converter.

Audio arrives in chunks of any size. Each time a full block has arrived, the transform gets a window of
``context + block + crossfade + search`` samples (the newest block at its end, older audio to its left) and returns
audio aligned with that window's end. The last ``block + crossfade + search`` samples of its output are joined to the
previous output with a SOLA offset search (normalized cross-correlation over ``search`` samples) and a crossfade of
``crossfade`` samples, then exactly one block is emitted. So the output count tracks the input count block for block,
and content comes out ``crossfade + search`` samples late (dropped at the start when ``compensate_delay`` is set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synthesis.dsp.crossfade import CrossfadeShape, fade_windows, rms_dbfs, sola_offset
from synthesis.interfaces import Samples

BlockTransform = Callable[[Samples], Samples]
"""Window in (``window_samples`` long) -> audio out, aligned with the window's end, at least ``tail_samples`` long."""

MIN_BLOCK_MS = 10.0


@dataclass(frozen=True, slots=True)
class BlockConfig:
    sample_rate_hz: int
    block_ms: float = 80.0
    context_ms: float = 200.0
    crossfade_ms: float = 10.0
    search_ms: float = 10.0
    crossfade_shape: CrossfadeShape = "sin2"
    gate_dbfs: float | None = None
    """Blocks whose input is quieter than this are not transformed and come out silent (faded)."""
    compensate_delay: bool = False
    """Drop the first ``crossfade + search`` output samples so output sample n is input sample n."""

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0:
            raise ValueError("sample_rate_hz must be positive")
        if self.block_ms < MIN_BLOCK_MS:
            raise ValueError(f"block_ms must be at least {MIN_BLOCK_MS}")
        if self.context_ms < 0 or self.search_ms < 0 or self.crossfade_ms <= 0:
            raise ValueError("context_ms and search_ms must be >= 0 and crossfade_ms > 0")
        if self.crossfade_ms > self.block_ms:
            raise ValueError("crossfade_ms cannot exceed block_ms")

    def _samples(self, ms: float) -> int:
        return int(round(ms * self.sample_rate_hz / 1000.0))

    @property
    def block_samples(self) -> int:
        return self._samples(self.block_ms)

    @property
    def context_samples(self) -> int:
        return self._samples(self.context_ms)

    @property
    def crossfade_samples(self) -> int:
        return max(1, self._samples(self.crossfade_ms))

    @property
    def search_samples(self) -> int:
        return self._samples(self.search_ms)

    @property
    def delay_samples(self) -> int:
        return self.crossfade_samples + self.search_samples

    @property
    def tail_samples(self) -> int:
        return self.block_samples + self.delay_samples

    @property
    def window_samples(self) -> int:
        return self.context_samples + self.tail_samples


class BlockProcessor:
    """Feeds a stream through ``transform`` block by block and joins the results seamlessly (not thread-safe)."""

    def __init__(self, config: BlockConfig, transform: BlockTransform) -> None:
        self.config = config
        self._transform = transform
        self._fade_in, self._fade_out = fade_windows(config.crossfade_samples, config.crossfade_shape)
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._window: Samples = np.zeros(cfg.window_samples, dtype=np.float32)
        self._pending: Samples = np.zeros(0, dtype=np.float32)
        self._sola_buffer: Samples = np.zeros(cfg.crossfade_samples, dtype=np.float32)
        self._to_drop = cfg.delay_samples if cfg.compensate_delay else 0
        self.samples_in = 0
        self.samples_out = 0
        self.blocks_processed = 0
        self.blocks_gated = 0

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency: a block must fill, then ``crossfade + search`` is held back for the next join."""
        cfg = self.config
        return 1000.0 * (cfg.block_samples + cfg.delay_samples) / cfg.sample_rate_hz

    def process(self, samples: Samples) -> Samples:
        """Take any number of new samples; return every full block that became ready (possibly none)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples_in += len(x)
        self._pending = np.concatenate([self._pending, x]) if len(self._pending) else x.copy()
        block = self.config.block_samples
        outputs: list[Samples] = []
        while len(self._pending) >= block:
            new, self._pending = self._pending[:block], self._pending[block:]
            outputs.append(self._run_block(new))
        return self._emit(outputs)

    def flush(self) -> Samples:
        """Push silence through until every input sample has come out, return it, and reset for a new stream."""
        cfg = self.config
        target_out = self.samples_in + cfg.delay_samples - (cfg.delay_samples if cfg.compensate_delay else 0)
        outputs: list[Samples] = []
        produced = self.samples_out
        pad = (-len(self._pending)) % cfg.block_samples
        self._pending = np.concatenate([self._pending, np.zeros(pad, dtype=np.float32)])
        while produced < target_out:
            if len(self._pending) < cfg.block_samples:
                self._pending = np.zeros(cfg.block_samples, dtype=np.float32)
            new, self._pending = self._pending[: cfg.block_samples], self._pending[cfg.block_samples :]
            out = self._drop_leading(self._run_block(new))
            outputs.append(out)
            produced += len(out)
        joined = np.concatenate(outputs) if outputs else np.zeros(0, dtype=np.float32)
        joined = joined[: max(0, target_out - self.samples_out)]
        self.reset()
        return joined

    def _emit(self, outputs: list[Samples]) -> Samples:
        if not outputs:
            return np.zeros(0, dtype=np.float32)
        joined = self._drop_leading(np.concatenate(outputs))
        self.samples_out += len(joined)
        return joined

    def _drop_leading(self, out: Samples) -> Samples:
        if self._to_drop <= 0:
            return out
        dropped = min(self._to_drop, len(out))
        self._to_drop -= dropped
        return out[dropped:]

    def _run_block(self, new: Samples) -> Samples:
        cfg = self.config
        block, cf, search, tail_len = cfg.block_samples, cfg.crossfade_samples, cfg.search_samples, cfg.tail_samples
        self._window = np.concatenate([self._window[block:], new])
        self.blocks_processed += 1
        if cfg.gate_dbfs is not None and rms_dbfs(new) < cfg.gate_dbfs:
            self.blocks_gated += 1
            tail: Samples = np.zeros(tail_len, dtype=np.float32)
        else:
            produced = np.asarray(self._transform(self._window.copy()), dtype=np.float32).reshape(-1)
            if len(produced) < tail_len:
                raise ValueError(f"transform returned {len(produced)} samples, needs at least {tail_len}")
            tail = produced[-tail_len:]
        offset = sola_offset(tail[: cf + search], self._sola_buffer, search)
        segment = tail[offset : offset + block + cf].copy()
        segment[:cf] = segment[:cf] * self._fade_in + self._sola_buffer * self._fade_out
        self._sola_buffer = segment[block : block + cf].copy()
        out: Samples = segment[:block]
        return out
