"""Cuts text into the pieces Kokoro renders one at a time.

A stream opens with a few words, then pieces that grow: each is at most ``GROWTH`` times the one before, so at a
real-time factor below ~0.6 it is ready before the previous one has played. Every later sentence is one piece (up to
``MAX_CHARS``): a whole sentence keeps its intonation, and by then earlier audio is queued at the listener.
"""

from __future__ import annotations

import re

FIRST_MAX_WORDS = 3
FIRST_MAX_CHARS = 24
NEXT_MIN_CHARS = 40
GROWTH = 1.8
MAX_CHARS = 160  # ~10 s of speech: one worker job stays well inside its timeout on a busy CPU
# A first piece that ends on one of these sounds cut off mid-phrase; the cut moves one word earlier.
_JOINERS = frozenset(
    "a à ao aos o as os e é de do da dos das em no na nos nas um uma por para com que se "
    "el la los las y en del al un una con por para que "
    "the a an and of to in on for with at by".split())
_CLAUSE_BREAK = re.compile(r"(?<=[,;:—…])\s+")


def _first_piece(words: list[str]) -> int:
    """How many words open the stream: up to a clause break, else a few words not ending on a joiner."""
    count, chars = 0, 0
    for word in words[:FIRST_MAX_WORDS]:
        if count and chars + 1 + len(word) > FIRST_MAX_CHARS:
            break
        count, chars = count + 1, chars + len(word) + (1 if count else 0)
        if word[-1] in ",;:—…":
            return count
    while count > 1 and words[count - 1].lower().strip("¿¡\"'") in _JOINERS:
        count -= 1
    return max(1, count)


def _take(words: list[str], limit: int) -> int:
    """Words that fit in ``limit`` characters, cut after the last clause break that fits (if one is past half)."""
    count, chars, last_break = 0, 0, 0
    for word in words:
        if count and chars + 1 + len(word) > limit:
            break
        count, chars = count + 1, chars + len(word) + (1 if count > 0 else 0)
        if word[-1] in ",;:—…":
            last_break = count
    if count < len(words) and last_break * 2 >= count:
        return last_break
    while 1 < count < len(words) and words[count - 1].lower() in _JOINERS:
        count -= 1
    return max(1, count)


def kokoro_pieces(text: str, *, stream_start: bool) -> list[str]:
    """The pieces of one sentence in order; ``stream_start`` opens with a few words (nothing is playing yet)."""
    words = text.split()
    pieces: list[str] = []
    limit = float(MAX_CHARS)
    if stream_start and words:
        n = _first_piece(words)
        pieces.append(" ".join(words[:n]))
        words = words[n:]
        limit = max(float(NEXT_MIN_CHARS), GROWTH * len(pieces[0]))
    while words:
        n = _take(words, int(min(limit, MAX_CHARS)))
        pieces.append(" ".join(words[:n]))
        words = words[n:]
        limit *= GROWTH
    return pieces
