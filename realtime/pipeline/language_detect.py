"""Which of pt-BR / es / en a text is in, for a stream started with neither a language nor a voice.

lingua (its models ship inside the wheel) restricted to the three languages the engines speak.
"""

from __future__ import annotations

import asyncio
from typing import Any

from synthesis.interfaces import LANGUAGES

FALLBACK_LANGUAGE = "pt-BR"  # the first market; also the answer for text with no letters (numbers, emoji)
_LINGUA_NAMES = {"PORTUGUESE": "pt-BR", "SPANISH": "es", "ENGLISH": "en"}


class LanguageDetector:
    """``load`` once (blocking, ~130 MB and a few seconds); ``detect`` is sub-millisecond on a sentence."""

    def __init__(self) -> None:
        self._detector: Any = None

    def load(self) -> None:
        if self._detector is not None:
            return
        from lingua import Language, LanguageDetectorBuilder

        languages = [getattr(Language, name) for name in _LINGUA_NAMES]
        self._detector = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()

    def detect(self, text: str) -> str:
        """One of ``LANGUAGES``; ``FALLBACK_LANGUAGE`` when the text gives no clue."""
        if self._detector is None:
            raise RuntimeError("language detector not loaded")
        found = self._detector.detect_language_of(text)
        language = _LINGUA_NAMES.get(found.name, FALLBACK_LANGUAGE) if found is not None else FALLBACK_LANGUAGE
        assert language in LANGUAGES
        return language

    async def detect_async(self, text: str) -> str:
        return await asyncio.to_thread(self.detect, text)
