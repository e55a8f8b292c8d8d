"""The ack window on its own: what counts as in flight, when the stream waits, when the client is stalled."""

from __future__ import annotations

import asyncio

import pytest

from realtime.pipeline.flow_window import ClientStalled, FlowWindow, InvalidAck

RATE = 1000  # one sample per millisecond keeps the arithmetic readable


def window(stall_timeout_s: float = 30.0) -> FlowWindow:
    return FlowWindow(RATE, window_ms=3000, stall_timeout_s=stall_timeout_s, min_send_ms=100)


async def test_frames_are_cut_to_fit_and_the_stream_waits_for_an_ack() -> None:
    w = window()
    assert await w.room(2500) == 2500
    w.sent(2500, 5000)
    assert await w.room(2500) == 500  # never more than the window in flight
    w.sent(500, 1000)
    waiting = asyncio.create_task(w.room(2000))
    await asyncio.sleep(0)
    assert not waiting.done()
    w.ack(5000)  # the first frame arrived
    assert await waiting == 2000
    assert w.in_flight_samples == 500


async def test_samples_held_in_an_encoder_stay_in_flight_until_their_bytes_are_acked() -> None:
    w = window()
    w.sent(1000, 0)  # all buffered inside the encoder
    w.sent(1000, 300)  # the encoder emits bytes carrying both
    w.sent(0, 44)  # a tail with no new samples
    w.ack(0)
    assert w.in_flight_samples == 2000
    w.ack(300)
    assert w.in_flight_samples == 0
    w.ack(344)
    w.ack(100)  # stale: changes nothing
    assert (w.acked_bytes, w.in_flight_samples) == (344, 0)


def test_an_ack_beyond_what_was_sent_is_refused() -> None:
    w = window()
    w.sent(100, 200)
    with pytest.raises(InvalidAck, match="only 200 were sent"):
        w.ack(201)
    assert w.acked_bytes == 0


async def test_no_ack_while_the_window_is_full_is_a_stall() -> None:
    w = window(stall_timeout_s=0.05)
    w.sent(3000, 6000)
    with pytest.raises(ClientStalled):
        await w.room(100)
    assert await window(stall_timeout_s=0.05).room(100) == 100  # with room, no ack is needed
