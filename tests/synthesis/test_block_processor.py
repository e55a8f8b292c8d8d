from __future__ import annotations

import numpy as np
import pytest

from synthesis.block_processor import BlockConfig, BlockProcessor
from synthesis.interfaces import Samples

SR = 24000


def _identity(window: Samples) -> Samples:
    return window


def _sine(seconds: float, hz: float = 220.0) -> Samples:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _feed(proc: BlockProcessor, x: Samples, chunk_sizes: list[int]) -> tuple[Samples, list[int]]:
    outs: list[Samples] = []
    lags: list[int] = []
    pos, i = 0, 0
    while pos < len(x):
        n = chunk_sizes[i % len(chunk_sizes)]
        outs.append(proc.process(x[pos : pos + n]))
        pos += n
        i += 1
        lags.append(proc.samples_in - proc.samples_out)
    outs.append(proc.flush())
    return np.concatenate(outs), lags


@pytest.mark.parametrize("block_ms", [20.0, 80.0])
def test_identity_sine_is_seamless_and_tracks_input(block_ms: float) -> None:
    cfg = BlockConfig(sample_rate_hz=SR, block_ms=block_ms)
    proc = BlockProcessor(cfg, _identity)
    x = _sine(3.0)
    y, lags = _feed(proc, x, [37, 480, 1000, 7, 2400])

    delay = cfg.delay_samples
    assert len(y) == len(x) + delay
    assert max(lags) < cfg.block_samples  # output count stays within one block of the input count
    assert np.allclose(y[delay:], x, atol=1e-5)
    max_step = float(np.max(np.abs(np.diff(x))))
    assert float(np.max(np.abs(np.diff(y)))) <= max_step * 1.001


def test_compensated_delay_gives_aligned_output_of_equal_length() -> None:
    cfg = BlockConfig(sample_rate_hz=SR, block_ms=80.0, compensate_delay=True)
    proc = BlockProcessor(cfg, _identity)
    x = _sine(1.234, 330.0)
    y, _ = _feed(proc, x, [SR // 10])
    assert len(y) == len(x)
    assert np.allclose(y, x, atol=1e-5)


def test_phase_jumps_are_hidden_by_sola_and_crossfade() -> None:
    """A transform whose output restarts its phase every call still joins without clicks."""
    cfg = BlockConfig(sample_rate_hz=SR, block_ms=40.0, context_ms=60.0)
    hz = 200.0
    calls = {"n": 0}

    def resynth(window: Samples) -> Samples:
        calls["n"] += 1
        phase = 1.3 * calls["n"]  # an arbitrary new phase each block, like a vocoder restarting its pulses
        t = np.arange(len(window)) / SR
        return (0.5 * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)

    proc = BlockProcessor(cfg, resynth)
    y, _ = _feed(proc, _sine(2.0, hz), [960])
    body = y[cfg.window_samples : -cfg.block_samples]
    max_step = 0.5 * 2 * np.pi * hz / SR
    assert float(np.max(np.abs(np.diff(body)))) <= max_step * 1.05


def test_without_sola_search_the_same_transform_clicks() -> None:
    """The check above can fail: with no search window the phase jumps show up as steps."""
    cfg = BlockConfig(sample_rate_hz=SR, block_ms=40.0, context_ms=60.0, search_ms=0.0, crossfade_ms=0.5)
    calls = {"n": 0}

    def resynth(window: Samples) -> Samples:
        calls["n"] += 1
        t = np.arange(len(window)) / SR
        return (0.5 * np.sin(2 * np.pi * 200.0 * t + 1.3 * calls["n"])).astype(np.float32)

    y, _ = _feed(BlockProcessor(cfg, resynth), _sine(1.0, 200.0), [960])
    assert float(np.max(np.abs(np.diff(y[cfg.window_samples :])))) > 0.5 * 2 * np.pi * 200.0 / SR * 1.5


def test_noise_gate_silences_quiet_blocks_without_calling_transform() -> None:
    calls = {"n": 0}

    def counting(window: Samples) -> Samples:
        calls["n"] += 1
        return window

    cfg = BlockConfig(sample_rate_hz=SR, block_ms=80.0, gate_dbfs=-50.0)
    proc = BlockProcessor(cfg, counting)
    quiet = np.full(SR // 2, 1e-4, dtype=np.float32)
    loud = _sine(0.5)
    out = np.concatenate([proc.process(quiet), proc.process(loud)])
    assert proc.blocks_gated >= 5
    assert calls["n"] == proc.blocks_processed - proc.blocks_gated
    assert float(np.max(np.abs(out[: cfg.block_samples * 5]))) == 0.0
    assert float(np.max(np.abs(out[-cfg.block_samples :]))) > 0.4


def test_latency_and_validation() -> None:
    cfg = BlockConfig(sample_rate_hz=SR, block_ms=80.0, crossfade_ms=10.0, search_ms=10.0)
    assert BlockProcessor(cfg, _identity).latency_ms == pytest.approx(100.0)
    with pytest.raises(ValueError):
        BlockConfig(sample_rate_hz=SR, block_ms=5.0)
    with pytest.raises(ValueError):
        BlockConfig(sample_rate_hz=SR, block_ms=20.0, crossfade_ms=30.0)
    short = BlockProcessor(cfg, lambda w: w[:10])
    with pytest.raises(ValueError):
        short.process(np.zeros(cfg.block_samples, dtype=np.float32))
