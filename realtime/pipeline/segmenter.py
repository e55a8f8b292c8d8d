"""Splits text that arrives in pieces (word by word from an LLM) into complete sentences, as early as possible."""

from __future__ import annotations

import re

MAX_SENTENCE_CHARS = 400

_ABBREVIATIONS = frozenset(
    "sr sra srta dr dra prof profa sres exmo av etc vs p.ex ex núm nº pág cap mr mrs ms st jr sta sto ud uds".split()
)
# A terminator followed by whitespace ends a sentence; the whitespace must have arrived, so "3." + "5" stays whole.
_BOUNDARY = re.compile(r"([.!?…;]+[\"'”’»)\]]*)(\s+)|(\n\s*)")
_SOFT_BREAK = re.compile(r"[,:—–]\s+|\s+")


def _is_abbreviation(text: str, end: int) -> bool:
    word = re.search(r"(\S+)$", text[:end])
    if word is None:
        return False
    token = word.group(1).rstrip(".").lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


class SentenceSegmenter:
    def __init__(self, max_chars: int = MAX_SENTENCE_CHARS) -> None:
        self._buffer = ""
        self._max_chars = max_chars

    @property
    def pending_chars(self) -> int:
        return len(self._buffer)

    def push(self, text: str) -> list[str]:
        """Add text; return the sentences now complete."""
        self._buffer += text
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if sentence.strip():
                out.append(" ".join(sentence.split()))
        return out

    def flush(self) -> list[str]:
        """Everything still held, as one last sentence (if it has any words)."""
        rest, self._buffer = self._buffer, ""
        return [" ".join(rest.split())] if rest.strip() else []

    def clear(self) -> None:
        self._buffer = ""

    def _next_cut(self) -> int | None:
        for m in _BOUNDARY.finditer(self._buffer):
            if m.group(1) and m.group(1) == "." and _is_abbreviation(self._buffer, m.start(1)):
                continue
            return m.end()
        if len(self._buffer) > self._max_chars:
            window = self._buffer[: self._max_chars]
            breaks = [m.end() for m in _SOFT_BREAK.finditer(window) if m.end() > self._max_chars // 2]
            return breaks[-1] if breaks else self._max_chars
        return None
