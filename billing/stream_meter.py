"""A ``SessionMeter`` seen in samples, for transports that move PCM frames.

Per frame::

    n = await audio.admit(len(samples))        # how many of these samples are paid for
    send(encode(samples[:n]))
    update = await audio.delivered(n)          # charge what was sent
    if update.report: send(update.event())
    if update.exhausted: raise CreditsExhausted  # after flushing the encoder: that audio is paid

Delivered time is the floor of the cumulative sample count in whole milliseconds, so it never drifts however the
audio is cut into frames.
"""

from __future__ import annotations

from dataclasses import replace

from billing.errors import BillingError
from billing.metering import SessionMeter, UsageUpdate

_REPORT_EVERY_MS = 1000


class CreditsExhausted(BillingError):
    code = "insufficient_credits"

    def __init__(self) -> None:
        super().__init__("credits ran out; top up to continue")


class SampleMeter:
    def __init__(self, meter: SessionMeter, sample_rate_hz: int, report_every_ms: int = _REPORT_EVERY_MS) -> None:
        if sample_rate_hz <= 0:
            raise ValueError("sample_rate_hz must be positive")
        self.meter = meter
        self._rate = sample_rate_hz
        self._samples = 0
        self._ms = 0
        self._report_every_ms = report_every_ms
        self._reported_ms = 0
        self._last: UsageUpdate | None = None

    @property
    def last_update(self) -> UsageUpdate | None:
        return self._last

    async def admit(self, n_samples: int) -> int:
        """How many of the next ``n_samples`` samples are paid for (0 when credits ran out)."""
        if n_samples <= 0:
            return 0
        end_ms = -(-(self._samples + n_samples) * 1000 // self._rate)
        allowed_ms = await self.meter.authorize(end_ms - self._ms)
        # Largest n' with floor((samples + n') * 1000 / rate) <= ms + allowed_ms.
        limit = ((self._ms + allowed_ms + 1) * self._rate - 1) // 1000 - self._samples
        return max(0, min(n_samples, limit))

    async def delivered(self, n_samples: int) -> UsageUpdate:
        """Charge ``n_samples`` samples that were just sent; ``report`` says a usage event is due."""
        self._samples += max(0, n_samples)
        new_ms = self._samples * 1000 // self._rate
        update = await self.meter.charge_delivered(new_ms - self._ms)
        self._ms = new_ms
        due = update.exhausted or new_ms - self._reported_ms >= self._report_every_ms
        if due:
            self._reported_ms = new_ms
        self._last = replace(update, report=due)
        return self._last
