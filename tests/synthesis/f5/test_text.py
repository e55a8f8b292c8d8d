from __future__ import annotations

import pytest

from synthesis.f5.text import BatchPlan, plan_batches, split_batches, utf8_len
from tests.synthesis.f5.support import REFERENCE_TEXT, THREE_SENTENCES

LONG = " ".join([THREE_SENTENCES] * 6)


def test_plan_follows_the_reference_speaking_rate() -> None:
    slow = plan_batches(REFERENCE_TEXT, 10.0)
    fast = plan_batches(REFERENCE_TEXT, 5.0)
    assert fast.max_bytes > slow.max_bytes
    assert slow.first_bytes < slow.max_bytes
    assert plan_batches(REFERENCE_TEXT, 5.0, speed=2.0).max_bytes > fast.max_bytes


def test_a_reference_longer_than_the_context_still_leaves_room() -> None:
    plan = plan_batches(REFERENCE_TEXT, 30.0, context_s=25.0, min_batch_s=4.0)
    assert plan.max_bytes >= int(utf8_len(REFERENCE_TEXT) / 30.0 * 4.0)


@pytest.mark.parametrize("text", [THREE_SENTENCES, LONG, "Oi.", "uma  frase\nsem   pontuação nenhuma até o fim"])
def test_batches_keep_every_word_in_order_within_budget(text: str) -> None:
    plan = BatchPlan(first_bytes=20, max_bytes=60)
    batches = split_batches(text, plan)
    assert " ".join(batches).split() == text.split()
    assert utf8_len(batches[0]) <= plan.first_bytes
    assert all(utf8_len(b) <= plan.max_bytes for b in batches)


def test_first_batch_is_short_and_later_ones_are_packed() -> None:
    plan = plan_batches(REFERENCE_TEXT, 6.0)
    batches = split_batches(LONG, plan)
    assert len(batches) >= 3
    assert utf8_len(batches[0]) < utf8_len(batches[1])
    assert utf8_len(batches[0]) <= plan.first_bytes


def test_clause_boundaries_are_preferred() -> None:
    batches = split_batches("Um dois três, quatro cinco seis sete oito nove.", BatchPlan(first_bytes=20, max_bytes=200))
    assert batches[0] == "Um dois três,"


def test_an_overlong_word_is_cut_and_empty_text_gives_nothing() -> None:
    assert split_batches("   ", BatchPlan(10, 10)) == []
    batches = split_batches("a" * 25, BatchPlan(first_bytes=10, max_bytes=10))
    assert "".join(batches) == "a" * 25 and all(len(b) <= 10 for b in batches)
