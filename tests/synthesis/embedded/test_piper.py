from __future__ import annotations

import numpy as np
import pytest

from synthesis.embedded.piper import PiperSynth, find_voice_files
from synthesis.interfaces import EngineError


def test_voice_files_are_found_inside_the_package() -> None:
    model, config = find_voice_files()
    assert model.suffix == ".onnx" and model.stat().st_size > 10_000_000
    assert config.name == model.name + ".json"


def test_missing_voice_package_is_an_engine_error() -> None:
    with pytest.raises(EngineError) as info:
        find_voice_files("no_such_voice_package_here")
    assert info.value.code == "engine_unavailable"


def test_synthesizes_one_chunk_per_sentence(piper_synth: PiperSynth) -> None:
    parts = list(piper_synth.sentences("Hello there. How are you today?"))
    assert len(parts) == 2
    rate = piper_synth.sample_rate_hz
    for part in parts:
        assert part.dtype == np.float32
        assert 0.3 < len(part) / rate < 4.0
        assert float(np.sqrt(np.mean(part**2))) > 0.02
        assert float(np.max(np.abs(part))) <= 1.0


def test_speed_scales_length(piper_synth: PiperSynth) -> None:
    text = "This sentence is read at two different speeds."

    # Piper draws phoneme durations at random: a single pair of runs varies by +-15 %, so compare sums of three.
    def total_samples(speed: float) -> int:
        return sum(len(part) for _ in range(3) for part in piper_synth.sentences(text, speed=speed))

    slow, normal, fast = total_samples(0.5), total_samples(1.0), total_samples(2.0)
    assert slow > normal > fast
    assert slow > 2.3 * fast


def test_unloaded_voice_is_not_ready() -> None:
    with pytest.raises(EngineError) as info:
        list(PiperSynth().sentences("hello"))
    assert info.value.code == "not_ready"
