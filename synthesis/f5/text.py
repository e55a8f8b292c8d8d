"""Splitting text into F5 batches: each batch plus the reference must fit the model's context, and the first batch is
kept deliberately short so its audio (the time to first audio) is ready early."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAUSE_END = re.compile(r"(?<=[.!?;:,…])\s+|(?<=[。！？；：，])")
_SPACE = re.compile(r"\s+")


@dataclass(slots=True, frozen=True)
class BatchPlan:
    """Byte budgets for one synthesis: ``first_bytes`` for batch 0, ``max_bytes`` for every later one."""

    first_bytes: int
    max_bytes: int


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def plan_batches(
    ref_text: str,
    ref_duration_s: float,
    *,
    speed: float = 1.0,
    context_s: float = 25.0,
    min_batch_s: float = 4.0,
    first_batch_s: float = 2.0,
    min_first_bytes: int = 12,
) -> BatchPlan:
    """Budgets from the reference's speaking rate: the model sees reference + batch, at most ``context_s`` seconds."""
    bytes_per_s = max(1.0, utf8_len(ref_text) / max(ref_duration_s, 0.1))
    batch_s = max(min_batch_s, context_s - ref_duration_s)
    max_bytes = max(min_first_bytes, int(bytes_per_s * batch_s * speed))
    first = max(min_first_bytes, int(bytes_per_s * first_batch_s * speed))
    return BatchPlan(first_bytes=min(first, max_bytes), max_bytes=max_bytes)


def _split_words(piece: str, limit: int) -> list[str]:
    """Cut an over-long clause at word boundaries (a single over-long word is cut by characters)."""
    out: list[str] = []
    current = ""
    for word in piece.split(" "):
        candidate = f"{current} {word}" if current else word
        if utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        while utf8_len(word) > limit:
            cut = limit
            while utf8_len(word[:cut]) > limit:
                cut -= 1
            out.append(word[: max(cut, 1)])
            word = word[max(cut, 1):]
        current = word
    if current:
        out.append(current)
    return out


def split_batches(text: str, plan: BatchPlan) -> list[str]:
    """Greedy packing of clauses into batches: batch 0 within ``plan.first_bytes``, the rest within ``max_bytes``.

    Batches never split a word; clause boundaries (punctuation) are preferred over word boundaries.
    """
    clean = _SPACE.sub(" ", text).strip()
    if not clean:
        return []
    clauses = [c for c in _CLAUSE_END.split(clean) if c]
    batches: list[str] = []
    current = ""

    def limit() -> int:
        return plan.first_bytes if not batches else plan.max_bytes

    pending = list(reversed(clauses))
    while pending:
        clause = pending.pop()
        candidate = f"{current} {clause}" if current else clause
        if utf8_len(candidate) <= limit():
            current = candidate
            continue
        if current:
            batches.append(current)
            current = ""
            pending.append(clause)
            continue
        words = _split_words(clause, limit())
        batches.append(words[0])
        rest = " ".join(words[1:])
        if rest:
            pending.append(rest)
    if current:
        batches.append(current)
    return batches
