"""Plans: what each costs and grants. Money in centavos, credits as whole credits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Plan:
    name: str
    price_centavos: int
    credits: int
    max_voices: int


PLANS: dict[str, Plan] = {
    "free": Plan("free", 0, 100, 5),
    "basic": Plan("basic", 2990, 1000, 20),
    "pro": Plan("pro", 9990, 5000, 100),
}


def voice_limit(plan: str) -> int:
    return PLANS[plan].max_voices if plan in PLANS else PLANS["free"].max_voices
