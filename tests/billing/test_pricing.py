from __future__ import annotations

import random

import pytest

from billing import pricing
from billing.plans import PLANS

TTS = pricing.Rates().millicredits_per_min("tts")


def test_published_prices_in_millicredits_per_minute() -> None:
    rates = pricing.Rates()
    assert rates.millicredits_per_min("tts") == 10_000
    assert rates.millicredits_per_min("conversion") == 5_000
    assert rates.millicredits_per_min("tts_rvc") == 15_000
    with pytest.raises(KeyError):
        rates.millicredits_per_min("karaoke")
    with pytest.raises(ValueError):
        pricing.Rates(tts_credits_per_min=0)


def test_plans_match_the_offer() -> None:
    assert (PLANS["free"].credits, PLANS["free"].max_voices) == (100, 5)
    assert (PLANS["basic"].price_centavos, PLANS["basic"].credits, PLANS["basic"].max_voices) == (2990, 1000, 20)
    assert (PLANS["pro"].price_centavos, PLANS["pro"].credits, PLANS["pro"].max_voices) == (9990, 5000, 100)


@pytest.mark.parametrize(
    ("audio_ms", "rate", "expected_mc"),
    [
        (0, 10_000, 0),
        (60_000, 10_000, 10_000),  # one minute of TTS = 10 credits
        (1_000, 10_000, 167),  # 166.67 rounds up
        (6, 10_000, 1),  # exactly 1
        (7, 10_000, 2),  # 1.17 rounds up
        (1, 5_000, 1),  # 0.083 rounds up
        (12, 5_000, 1),
        (13, 5_000, 2),
        (60_000, 15_000, 15_000),
        (4_000, 15_000, 1_000),
    ],
)
def test_cost_rounds_up_to_a_whole_millicredit(audio_ms: int, rate: int, expected_mc: int) -> None:
    assert pricing.cost_millicredits(audio_ms, rate) == expected_mc


def test_cost_rejects_negative_audio() -> None:
    with pytest.raises(ValueError):
        pricing.cost_millicredits(-1, TTS)


def test_charging_in_pieces_costs_the_same_as_in_one_piece() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pieces = [rng.randint(0, 900) for _ in range(rng.randint(1, 60))]
        total_ms = 0
        charged = 0
        for piece in pieces:
            charged += pricing.charge_delta(total_ms, total_ms + piece, TTS)
            total_ms += piece
        assert charged == pricing.cost_millicredits(total_ms, TTS)
        # Never more than 1 millicredit above the exact price.
        assert 0 <= charged * 60_000 - total_ms * TTS < 60_000


def test_payable_ms_is_the_most_a_budget_covers() -> None:
    rng = random.Random(11)
    for _ in range(500):
        rate = rng.choice([5_000, 10_000, 15_000, 7_000])
        delivered = rng.randint(0, 100_000)
        budget = rng.randint(0, 5_000)
        x = pricing.payable_ms(delivered, budget, rate)
        assert pricing.charge_delta(delivered, delivered + x, rate) <= budget
        if budget > 0:
            assert pricing.charge_delta(delivered, delivered + x + 1, rate) > budget
    assert pricing.payable_ms(0, 0, TTS) == 0
    assert pricing.payable_ms(0, -5, TTS) == 0
    assert pricing.payable_ms(1, 0, TTS) == 5  # 1 ms was charged 1 millicredit, which pays for 6 ms
    assert pricing.payable_ms(0, 1_000, TTS) == 6_000  # one credit buys six seconds of TTS


def test_reservation_needed_tops_up_by_at_least_one_quantum() -> None:
    quantum_cost = pricing.cost_millicredits(1_000, TTS)
    assert pricing.reservation_needed(0, 500, 0, TTS, 1_000) == quantum_cost
    assert pricing.reservation_needed(0, 500, quantum_cost, TTS, 1_000) == 0  # already covered
    big = pricing.reservation_needed(0, 5_000, 0, TTS, 1_000)
    assert big == pricing.cost_millicredits(5_000, TTS)  # more than a quantum when the chunk is longer
    assert pricing.reservation_needed(1_000, 500, 10, TTS, 1_000) == quantum_cost


def test_money_conversions_are_exact() -> None:
    assert pricing.centavos_to_amount(2990) == 29.9
    assert pricing.centavos_to_amount(9990) == 99.9
    for centavos in range(0, 100_000, 7):
        assert pricing.amount_to_centavos(pricing.centavos_to_amount(centavos)) == centavos
    assert pricing.amount_to_centavos("29.90") == 2990
    assert pricing.amount_to_centavos(30) == 3000
    for bad in (29.905, "abc", None, True, float("nan"), [1]):
        with pytest.raises(ValueError):
            pricing.amount_to_centavos(bad)


def test_brl_formatting() -> None:
    assert pricing.format_brl(2990) == "R$ 29,90"
    assert pricing.format_brl(5) == "R$ 0,05"
    assert pricing.format_brl(123456789) == "R$ 1.234.567,89"


def test_credit_display() -> None:
    assert pricing.credits_from_millicredits(1234) == 1.234
    assert pricing.credits_from_millicredits(0) == 0


@pytest.mark.parametrize(("refunded", "expected_mc"), [
    (0, 0), (1, 335), (1495, 500_000), (2243, 750_168), (2989, 999_666), (2990, 1_000_000), (5000, 1_000_000),
])
def test_refund_share_takes_back_the_refunded_fraction_rounded_up(refunded: int, expected_mc: int) -> None:
    assert pricing.refund_share_mc(1_000_000, 2990, refunded) == expected_mc


def test_refund_shares_in_steps_never_exceed_the_grant() -> None:
    rng = random.Random(7)
    for _ in range(200):
        price, granted = rng.randrange(1, 100_000), rng.randrange(0, 10**7)
        steps = sorted(rng.randrange(0, price + 1) for _ in range(rng.randrange(1, 6)))
        shares = [pricing.refund_share_mc(granted, price, r) for r in steps]
        assert shares == sorted(shares) and shares[-1] <= granted
    with pytest.raises(ValueError):
        pricing.refund_share_mc(1000, 100, -1)
