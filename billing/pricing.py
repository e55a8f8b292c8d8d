"""Pure pricing arithmetic: integers in, integers out; no I/O, no clock, no floats for money.

Units: 1 credit = 1000 millicredits; R$ 1,00 = 100 centavos; audio in whole milliseconds.

Rounding rules (each is tested in tests/billing/test_pricing.py):

1. A session is charged on its *cumulative* delivered audio: ``charged = ceil(audio_ms * rate / 60 000)``
   millicredits, where ``rate`` is millicredits per minute. Charging delivery in pieces therefore costs
   exactly what charging it in one piece costs; the customer pays at most 1 millicredit above the exact
   price per session.
2. ``payable_ms`` is the most extra audio a budget covers without exceeding it: it rounds *down*, so a
   reservation is never overspent by rounding.
3. A reservation quantum is the (rounded-up) price of ``quantum_ms`` of audio, taken at the operation's rate.
4. Money conversions refuse fractions of a centavo instead of rounding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MILLI_PER_CREDIT = 1000
MS_PER_MINUTE = 60_000
CENTAVOS_PER_REAL = 100

OPERATIONS = ("tts", "conversion", "tts_rvc")


@dataclass(slots=True, frozen=True)
class Rates:
    """Prices in whole credits per minute of audio delivered, one per operation."""

    tts_credits_per_min: int = 10
    conversion_credits_per_min: int = 5
    tts_rvc_credits_per_min: int = 15

    def __post_init__(self) -> None:
        for value in (
            self.tts_credits_per_min,
            self.conversion_credits_per_min,
            self.tts_rvc_credits_per_min,
        ):
            if value <= 0:
                raise ValueError("prices must be positive whole credits per minute")

    def millicredits_per_min(self, operation: str) -> int:
        """Price of one minute of ``operation`` in millicredits; ``KeyError`` for an unknown operation."""
        per_min = {
            "tts": self.tts_credits_per_min,
            "conversion": self.conversion_credits_per_min,
            "tts_rvc": self.tts_rvc_credits_per_min,
        }[operation]
        return per_min * MILLI_PER_CREDIT


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def cost_millicredits(audio_ms: int, rate_mc_per_min: int) -> int:
    """Price of ``audio_ms`` of audio (cumulative for one session), rounded up to a whole millicredit."""
    if audio_ms < 0 or rate_mc_per_min <= 0:
        raise ValueError("audio_ms must be >= 0 and the rate > 0")
    return _ceil_div(audio_ms * rate_mc_per_min, MS_PER_MINUTE)


def charge_delta(before_ms: int, after_ms: int, rate_mc_per_min: int) -> int:
    """Millicredits owed for growing a session's delivered audio from ``before_ms`` to ``after_ms``."""
    if after_ms < before_ms:
        raise ValueError("delivered audio never shrinks")
    return cost_millicredits(after_ms, rate_mc_per_min) - cost_millicredits(before_ms, rate_mc_per_min)


def payable_ms(delivered_ms: int, budget_mc: int, rate_mc_per_min: int) -> int:
    """How many more milliseconds a session that delivered ``delivered_ms`` can deliver with
    ``budget_mc`` more millicredits (on top of what it was already charged), rounding down."""
    # The last charge was rounded up, so a few milliseconds may already be paid for even with no budget.
    paid_total_mc = cost_millicredits(delivered_ms, rate_mc_per_min) + max(0, budget_mc)
    return max(0, paid_total_mc * MS_PER_MINUTE // rate_mc_per_min - delivered_ms)


def reservation_needed(
    delivered_ms: int, extra_ms: int, reserved_mc: int, rate_mc_per_min: int, quantum_ms: int
) -> int:
    """Millicredits to add to a reservation of ``reserved_mc`` so that ``extra_ms`` more audio is covered:
    0 when it already is, else at least one quantum."""
    owed = charge_delta(delivered_ms, delivered_ms + extra_ms, rate_mc_per_min)
    if owed <= reserved_mc:
        return 0
    return max(owed - reserved_mc, cost_millicredits(quantum_ms, rate_mc_per_min))


def refund_share_mc(granted_mc: int, price_centavos: int, refunded_centavos: int) -> int:
    """Millicredits to take back when ``refunded_centavos`` of a ``price_centavos`` purchase were refunded: the
    refunded share of the grant, rounded up to a whole millicredit, never more than the grant."""
    if granted_mc < 0 or refunded_centavos < 0:
        raise ValueError("granted_mc and refunded_centavos must be >= 0")
    if price_centavos <= 0 or refunded_centavos >= price_centavos:
        return granted_mc
    return _ceil_div(granted_mc * refunded_centavos, price_centavos)


def credits_from_millicredits(value_mc: int) -> float:
    """For display in JSON only (never fed back into arithmetic): 1234 -> 1.234."""
    return value_mc / MILLI_PER_CREDIT


def centavos_to_amount(centavos: int) -> float:
    """A BRL amount as the decimal number Mercado Pago's JSON expects (2990 -> 29.9). Exact: the
    shortest repr of the float reads back as the same two-decimal value."""
    if centavos < 0:
        raise ValueError("negative amount")
    return centavos / CENTAVOS_PER_REAL


def amount_to_centavos(amount: object) -> int:
    """A decimal amount from a payment provider (29.9, "29.90", 30) to centavos; fractions raise."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        raise ValueError(f"not an amount: {amount!r}")
    try:
        value = Decimal(str(amount)) * CENTAVOS_PER_REAL
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"not a whole number of centavos: {amount!r}")
    return int(value)


def format_brl(centavos: int) -> str:
    """2990 -> 'R$ 29,90' (Brazilian notation)."""
    reais, cents = divmod(centavos, CENTAVOS_PER_REAL)
    return f"R$ {reais:,}".replace(",", ".") + f",{cents:02d}"
