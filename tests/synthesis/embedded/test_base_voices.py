from __future__ import annotations

import pytest

from synthesis.embedded.base_voices import (
    CLASSIC_BASE_VOICES,
    DEFAULT_ALTERNATE_BASE_VOICES,
    DEFAULT_BASE_VOICES,
    resolve_alternates,
    resolve_base_voices,
)


def test_alternates_count_only_beside_a_default_of_the_same_engine() -> None:
    kokoro = resolve_alternates(resolve_base_voices(DEFAULT_BASE_VOICES), DEFAULT_ALTERNATE_BASE_VOICES)
    assert {lang: [b.voice for b in bases] for lang, bases in kokoro.items()} == {
        "pt-BR": ["jf_nezumi"], "es": ["jf_nezumi"]}
    # A server that speaks espeak-ng in pt-BR and es never loads Kokoro for an alternate.
    assert resolve_alternates(resolve_base_voices(CLASSIC_BASE_VOICES), DEFAULT_ALTERNATE_BASE_VOICES) == {}


def test_a_bad_alternate_is_refused() -> None:
    with pytest.raises(ValueError, match="jf_nobody"):
        resolve_alternates(resolve_base_voices(DEFAULT_BASE_VOICES), {"es": ["kokoro:jf_nobody"]})
