from __future__ import annotations

import numpy as np
import pytest

from synthesis.embedded.espeak import EspeakSynth, parse_wav
from synthesis.interfaces import EngineError


@pytest.mark.parametrize(("language", "text"), [
    ("pt-BR", "Olá, pessoal! Hoje vamos testar a voz."),
    ("es", "Hola a todos, hoy vamos a probar la voz."),
    ("en", "Hello everyone, today we test the voice."),
])
def test_speaks_every_language(language: str, text: str) -> None:
    audio, rate = EspeakSynth().synthesize(text, language)
    assert rate == 22050
    assert audio.dtype == np.float32
    assert 1.0 < len(audio) / rate < 6.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.02
    assert float(np.max(np.abs(audio))) <= 1.0


def test_speed_changes_duration() -> None:
    synth = EspeakSynth()
    slow, rate = synth.synthesize("Uma frase comprida o bastante para medir a velocidade.", "pt-BR", speed=0.5)
    fast, _ = synth.synthesize("Uma frase comprida o bastante para medir a velocidade.", "pt-BR", speed=2.0)
    assert len(slow) > 2.5 * len(fast)


def test_text_that_looks_like_options_is_spoken() -> None:
    audio, rate = EspeakSynth().synthesize("--version -v xx", "en")
    assert len(audio) / rate > 0.5


def test_unknown_language_and_missing_binary() -> None:
    with pytest.raises(EngineError) as info:
        EspeakSynth().synthesize("hola", "fr")
    assert info.value.code == "unsupported_language"
    with pytest.raises(EngineError) as info:
        EspeakSynth("/nonexistent/espeak-ng").synthesize("hola", "es")
    assert info.value.code == "engine_unavailable"


def test_parse_wav_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_wav(b"not a wav file at all")
