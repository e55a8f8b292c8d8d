from __future__ import annotations

import pytest

from synthesis.interfaces import EngineError
from synthesis.kokoro.phonemes import IpaPhonemizer, clauses

VOCAB = {c: i for i, c in enumerate(" ,.!?abcdefghijklmnopqrstuvwxyzɐɔɛʃʒɾʁˈˌ̃ŋʊɪ", start=1)}


def test_clauses_keep_their_closing_mark() -> None:
    assert clauses("¿Hola, qué tal? Muy bien.") == [("¿Hola", ","), ("qué tal", "?"), ("Muy bien", ".")]
    assert clauses("sem pontuação") == [("sem pontuação", "")]
    assert clauses("...") == []


def test_ipa_has_punctuation_back_and_no_ties() -> None:
    ipa = IpaPhonemizer(VOCAB).ipa("Tchau, pessoal! Até já.", "pt-BR")
    assert ipa.count(",") == 1 and ipa.count("!") == 1 and ipa.endswith(".")
    assert "\u0361" not in ipa and "\n" not in ipa


def test_tokens_drop_symbols_outside_the_vocabulary() -> None:
    phonemizer = IpaPhonemizer(VOCAB)
    assert phonemizer.tokens("a\u0361b§c") == [VOCAB["a"], VOCAB["b"], VOCAB["c"]]
    assert len(phonemizer.tokens("a" * 2000)) == 510


def test_text_cannot_become_an_option() -> None:
    ipa = IpaPhonemizer(VOCAB).ipa("--version -v en", "en")
    assert "eSpeak" not in ipa and ipa


def test_unknown_language_and_missing_espeak() -> None:
    with pytest.raises(EngineError) as info:
        IpaPhonemizer(VOCAB).ipa("hallo", "de")
    assert info.value.code == "unsupported_language"
    with pytest.raises(EngineError) as info:
        IpaPhonemizer(VOCAB, executable="/nonexistent/espeak-ng").ipa("olá", "pt-BR")
    assert info.value.code == "engine_unavailable"
