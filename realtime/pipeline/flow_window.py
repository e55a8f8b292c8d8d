"""Flow control for billed streams: never more than a window of audio sent but not acknowledged by the client.

Billing charges audio when it is sent, and the kernel's socket buffers on both ends of a connection hold megabytes
that the server cannot see, so audio a client never reads would otherwise be paid for. The client acknowledges the
bytes it received; the stream waits while the window is full, and a client that acknowledges nothing for
``stall_timeout_s`` while the stream waits is stalled. Unread audio is therefore at most ``window_ms``.

Only frames that carried bytes count as acknowledged: samples still held inside an encoder stay in flight until the
bytes that carry them were acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import deque


class ClientStalled(Exception):
    """No acknowledgement arrived for the stall timeout while the window was full."""

    code = "client_stalled"

    def __init__(self, stall_timeout_s: float) -> None:
        super().__init__(f"no ack for {stall_timeout_s:g} s with the window full; the stream was stopped")
        self.message = str(self)


class InvalidAck(Exception):
    code = "invalid_ack"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FlowWindow:
    """Counts audio sent (samples and the bytes that carried them) against the client's cumulative acks."""

    def __init__(self, rate_hz: int, *, window_ms: int, stall_timeout_s: float, min_send_ms: int = 100) -> None:
        if rate_hz <= 0 or window_ms <= 0 or stall_timeout_s <= 0:
            raise ValueError("rate_hz, window_ms and stall_timeout_s must be positive")
        self._window_samples = rate_hz * window_ms // 1000
        self._min_send_samples = max(1, min(self._window_samples, rate_hz * min_send_ms // 1000))
        self._stall_timeout_s = stall_timeout_s
        self._sent_samples = 0
        self._sent_bytes = 0
        self._acked_samples = 0
        self._acked_bytes = 0
        # (bytes sent so far, samples sent so far) after each frame that carried bytes; acked ones are popped.
        self._marks: deque[tuple[int, int]] = deque()
        self._progress = asyncio.Event()

    @property
    def in_flight_samples(self) -> int:
        return self._sent_samples - self._acked_samples

    @property
    def sent_bytes(self) -> int:
        return self._sent_bytes

    @property
    def acked_bytes(self) -> int:
        return self._acked_bytes

    def _room(self) -> int:
        return self._window_samples - self.in_flight_samples

    async def room(self, wanted_samples: int) -> int:
        """How many of ``wanted_samples`` may be sent now (at least one); waits while fewer than a small minimum
        fit. Raises ``ClientStalled`` when no acknowledgement arrives for the stall timeout meanwhile."""
        need = min(wanted_samples, self._min_send_samples)
        while self._room() < need:
            self._progress.clear()
            try:
                async with asyncio.timeout(self._stall_timeout_s):
                    await self._progress.wait()
            except TimeoutError:
                raise ClientStalled(self._stall_timeout_s) from None
        return min(wanted_samples, self._room())

    def sent(self, n_samples: int, n_bytes: int) -> None:
        """Record a frame handed to the socket: ``n_samples`` of audio went in, ``n_bytes`` went out."""
        self._sent_samples += n_samples
        if n_bytes > 0:
            self._sent_bytes += n_bytes
            self._marks.append((self._sent_bytes, self._sent_samples))

    def ack(self, received_bytes: int) -> None:
        """The client received ``received_bytes`` bytes of audio frames in all; a smaller count than an earlier
        one changes nothing. More than was sent raises ``InvalidAck``."""
        if received_bytes > self._sent_bytes:
            raise InvalidAck(f"ack of {received_bytes} bytes, but only {self._sent_bytes} were sent")
        if received_bytes <= self._acked_bytes:
            return
        self._acked_bytes = received_bytes
        while self._marks and self._marks[0][0] <= received_bytes:
            self._acked_samples = self._marks.popleft()[1]
        self._progress.set()
