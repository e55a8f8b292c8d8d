from __future__ import annotations

import numpy as np
import pytest

from synthesis.dsp.resample import resample
from synthesis.embedded.espeak import EspeakSynth
from synthesis.embedded.piper import PiperSynth
from synthesis.interfaces import Samples

RATE_HZ = 24000
ENGLISH_TEXT = (
    "The weather was calm this morning, so we walked along the river. Later, a friend called to ask for some help."
)


@pytest.fixture(scope="session")
def piper_synth() -> PiperSynth:
    synth = PiperSynth()
    synth.load()
    return synth


@pytest.fixture(scope="session")
def piper_speech(piper_synth: PiperSynth) -> Samples:
    """About six seconds of Piper speech at 24 kHz (the base voice of English synthesis)."""
    audio = np.concatenate(list(piper_synth.sentences(ENGLISH_TEXT)))
    return resample(audio, piper_synth.sample_rate_hz, RATE_HZ)


@pytest.fixture(scope="session")
def high_voice() -> tuple[Samples, int]:
    """A target voice far above Piper's in pitch (~300 Hz against ~170 Hz): an espeak-ng female variant."""
    synth = EspeakSynth()
    audio, rate = synth.synthesize(ENGLISH_TEXT, "en", pitch=90, variant="f3")
    return audio, rate


def median_f0_hz(samples: Samples, rate: int) -> float:
    from synthesis.embedded.voice_stats import analyze_voice

    return analyze_voice(samples, rate).median_f0_hz
