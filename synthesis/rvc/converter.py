"""``RVCConverter``: the Converter protocol for one live stream, RVC inference inside the shared block processor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthesis.block_processor import BlockConfig, BlockProcessor
from synthesis.interfaces import EngineError, Samples
from synthesis.rvc.content import ContentEncoder
from synthesis.rvc.inference import F0Cache, RVCModel, RVCParams, convert_window


@dataclass(frozen=True, slots=True)
class RVCBlockSettings:
    """Block sizes are whole 10 ms frames: RVC works on 100 frames/s features."""

    block_ms: int = 100
    context_ms: int = 300
    crossfade_ms: int = 10
    search_ms: int = 10
    gate_dbfs: float | None = -60.0
    compensate_delay: bool = False
    """Output sample n is input sample n (no ``crossfade + search`` lead-in): for clips, not live streams."""

    def __post_init__(self) -> None:
        for name in ("block_ms", "context_ms", "crossfade_ms", "search_ms"):
            value = getattr(self, name)
            if value % 10 or value < 0:
                raise EngineError("invalid_block", f"{name} must be a non-negative multiple of 10 ms for RVC")
        if self.block_ms < 20 or self.crossfade_ms <= 0:
            raise EngineError("invalid_block", "RVC needs block_ms >= 20 and crossfade_ms > 0")


class RVCConverter:
    """Stateful live conversion at the model's sample rate (input must already be at ``sample_rate_hz``)."""

    def __init__(self, model: RVCModel, content: ContentEncoder, params: RVCParams,
                 block: RVCBlockSettings | None = None) -> None:
        b = block or RVCBlockSettings()
        self.sample_rate_hz = model.sample_rate_hz
        self.params = params
        self._model = model
        self._content = content
        self._f0 = self._new_f0_cache()
        config = BlockConfig(sample_rate_hz=model.sample_rate_hz, block_ms=b.block_ms, context_ms=b.context_ms,
                             crossfade_ms=b.crossfade_ms, search_ms=b.search_ms, gate_dbfs=b.gate_dbfs,
                             compensate_delay=b.compensate_delay)
        self._blocks = BlockProcessor(config, self._transform)
        self._blocks_seen = 0

    def _new_f0_cache(self) -> F0Cache | None:
        return F0Cache(self.params.f0_method, str(self._model.device)) if self._model.info.use_f0 else None

    @property
    def block_samples(self) -> int:
        return self._blocks.config.block_samples

    @property
    def latency_ms(self) -> float:
        return self._blocks.latency_ms

    def _transform(self, window: Samples) -> Samples:
        cfg = self._blocks.config
        # Gated blocks skip the transform; the F0 cache must still shift by every block that went by.
        new_samples = (self._blocks.blocks_processed - self._blocks_seen) * cfg.block_samples
        self._blocks_seen = self._blocks.blocks_processed
        return convert_window(self._model, self._content, self.params, self._f0, window, new_samples,
                              cfg.tail_samples)

    def warm_up(self) -> None:
        """Run one silent window through every model (first calls are slow) without touching the stream state."""
        cfg = self._blocks.config
        window = np.zeros(cfg.window_samples, dtype=np.float32)
        f0 = self._new_f0_cache()
        convert_window(self._model, self._content, self.params, f0, window, cfg.block_samples, cfg.tail_samples)

    def process(self, block: Samples) -> Samples:
        return self._blocks.process(block)

    def flush(self) -> Samples:
        """The held audio; the converter then starts a fresh stream (pitch cache included)."""
        out = self._blocks.flush()
        self._blocks_seen = 0
        self._f0 = self._new_f0_cache()
        return out
