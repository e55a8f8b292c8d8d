from __future__ import annotations

from billing.stream_meter import SampleMeter
from tests.billing.conftest import CREDIT, Billing

RATE = 24_000


async def test_cumulative_samples_never_drift(billing: Billing) -> None:
    account = await billing.new_account(100)
    audio = SampleMeter(await billing.metering.open(account, "tts"), RATE)
    odd = 1_001  # 41.708 ms: floors accumulate to the exact total, not to 41 ms per frame
    for _ in range(24):
        assert await audio.admit(odd) == odd
        update = await audio.delivered(odd)
    assert update.audio_ms == 24 * odd * 1000 // RATE == 1_001
    await audio.meter.close()


async def test_admit_cuts_the_frame_at_the_last_paid_sample(billing: Billing) -> None:
    account = await billing.new_account(1)  # six seconds of TTS
    audio = SampleMeter(await billing.metering.open(account, "tts"), RATE)
    frame = RATE // 2 + 7
    sent = 0
    while (n := await audio.admit(frame)) > 0:
        update = await audio.delivered(n)
        sent += n
        if update.exhausted:
            break
    assert update.exhausted and update.report
    assert 6 * RATE <= sent < 6 * RATE + RATE // 1000  # within one millisecond of six seconds
    assert update.audio_ms == 6_000 and update.used_mc == CREDIT
    assert await audio.admit(frame) == 0
    await audio.meter.close()
    assert await billing.balance_mc(account) == 0


async def test_reports_about_once_a_second(billing: Billing) -> None:
    account = await billing.new_account(100)
    audio = SampleMeter(await billing.metering.open(account, "tts"), RATE)
    reports = []
    for _ in range(50):  # 50 x 100 ms
        n = await audio.admit(RATE // 10)
        reports.append((await audio.delivered(n)).report)
    assert sum(reports) == 5
    await audio.meter.close()
