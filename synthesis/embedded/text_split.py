"""Splits text into pieces that are synthesized one at a time, the first one short so its audio leaves early."""

from __future__ import annotations

import re

FIRST_PIECE_MAX_CHARS = 60
# Opening a stream: ~1.5 s of speech, which Piper renders in ~150 ms on one core.
STREAM_START_MAX_CHARS = 28
_MIN_HEAD_CHARS = 8
PIECE_MAX_CHARS = 240

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=[—–]\s)")


def _pack(parts: list[str], limit: int) -> list[str]:
    """Greedily join consecutive parts while they fit in ``limit`` characters."""
    pieces: list[str] = []
    for part in parts:
        if pieces and len(pieces[-1]) + 1 + len(part) <= limit:
            pieces[-1] = f"{pieces[-1]} {part}"
        else:
            pieces.append(part)
    return pieces


def _split_words(text: str, limit: int) -> list[str]:
    return _pack(text.split(), limit)


def _split_long(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    for clause in _pack([c for c in _CLAUSE_END.split(sentence) if c], limit):
        pieces.extend([clause] if len(clause) <= limit else _split_words(clause, limit))
    return pieces


def _first_clause(sentence: str, limit: int) -> str | None:
    """The sentence up to its first clause break, when that break falls within ``limit`` characters."""
    for m in _CLAUSE_END.finditer(sentence):
        if _MIN_HEAD_CHARS <= m.start() <= limit:
            return sentence[: m.start()]
        if m.start() > limit:
            break
    return None


def split_for_synthesis(
    text: str, *, first_max_chars: int = FIRST_PIECE_MAX_CHARS, max_chars: int = PIECE_MAX_CHARS
) -> list[str]:
    """Sentences, with long ones cut at clause punctuation (or, failing that, between words).

    The first piece is held to ``first_max_chars`` so the first audio of a long opening sentence is ready early.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    pieces: list[str] = []
    for sentence in sentences:
        sentence = " ".join(sentence.split())
        if not pieces and len(sentence) > first_max_chars:
            head = _first_clause(sentence, first_max_chars) or _split_long(sentence, first_max_chars)[0]
            pieces.append(head)
            rest = sentence[len(head) :].strip()
            if rest:
                pieces.extend(_split_long(rest, max_chars))
        else:
            pieces.extend(_split_long(sentence, max_chars))
    return pieces
