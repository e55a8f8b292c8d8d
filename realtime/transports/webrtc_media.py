"""The media side of a WebRTC call: peer connections of this server, loopback-only ICE, the outgoing track."""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from types import TracebackType

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from realtime.config import Settings
from realtime.transports.ws_common import ClientMessageError
from synthesis.interfaces import Samples

RATE_HZ = 48000
FRAME_SAMPLES = 960  # 20 ms: Opus packetization in aiortc; other sizes have caused growing delay
PREFILL_SAMPLES = FRAME_SAMPLES
PEER_CLOSE_TIMEOUT_S = 3.0

log = logging.getLogger(__name__)


class WebRTCSessions:
    """Open peer connections; all are closed when the app stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pcs: set[RTCPeerConnection] = set()

    async def __aenter__(self) -> WebRTCSessions:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.gather(*(close_peer(pc) for pc in list(self._pcs)))
        self._pcs.clear()

    def create(self) -> RTCPeerConnection:
        if len(self._pcs) >= self.settings.webrtc_max_sessions:
            raise ClientMessageError("busy", "too many WebRTC sessions on this server, try again later")
        # No STUN/TURN: an empty server list keeps aiortc from contacting its default public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.add(pc)
        return pc

    async def release(self, pc: RTCPeerConnection) -> None:
        await close_peer(pc)
        self._pcs.discard(pc)  # after: a close cut short is finished at shutdown


async def close_peer(pc: RTCPeerConnection) -> None:
    """Close a peer connection, bounded in time: a stuck transport must not hold up the call's end or shutdown."""
    try:
        async with asyncio.timeout(PEER_CLOSE_TIMEOUT_S):
            await pc.close()
    except TimeoutError:
        log.warning("webrtc: a peer connection did not close within %.0f s", PEER_CLOSE_TIMEOUT_S)
    except Exception as exc:  # aiortc's own teardown failing must not stop ours
        log.warning("webrtc: closing a peer connection failed: %s", type(exc).__name__)


def keep_candidates_on(sdp: str, address: str) -> str:
    """Drop remote ICE candidates on any address but ``address`` (so checks never leave it)."""
    lines = sdp.split("\r\n")
    kept = [ln for ln in lines if not ln.startswith("a=candidate:") or ln.split(" ")[4] == address]
    return "\r\n".join(kept)


async def gather_only_on(pc: RTCPeerConnection, address: str) -> None:
    """Gather host candidates on ``address`` alone (aioice skips 127.0.0.1 on its own). Call before the local
    description is set; per connection, through the ICE agent of each transport."""
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.sender.transport.transport.iceGatherer
        agent = gatherer._connection
        if agent._local_candidates_start:
            continue
        agent._local_candidates_start = True
        for component in agent._components:
            agent._local_candidates += await agent.get_component_candidates(component=component, addresses=[address])
        agent._local_candidates_end = True


class ConvertedTrack(MediaStreamTrack):
    """Outgoing audio: converted samples from a FIFO, 20 ms per ``recv``, paced by the clock; silence on underrun.

    The FIFO is capped at ``max_buffer_samples``: beyond that the oldest audio is dropped so delay stays bounded.
    """

    kind = "audio"

    def __init__(self, max_buffer_samples: int) -> None:
        super().__init__()
        self._fifo: Samples = np.zeros(0, dtype=np.float32)
        self._max = max_buffer_samples
        self._pts = 0
        self._start: float | None = None
        self._playing = False
        self.underruns = 0
        self.dropped_samples = 0
        self.sent_samples = 0

    def feed(self, samples: Samples) -> None:
        self._fifo = np.concatenate([self._fifo, samples])
        excess = len(self._fifo) - self._max
        if excess > 0:
            self._fifo = self._fifo[excess:]
            self.dropped_samples += excess

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE_HZ - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if not self._playing and len(self._fifo) >= PREFILL_SAMPLES:
            self._playing = True
        if self._playing and len(self._fifo) >= FRAME_SAMPLES:
            chunk, self._fifo = self._fifo[:FRAME_SAMPLES], self._fifo[FRAME_SAMPLES:]
            self.sent_samples += FRAME_SAMPLES
        else:
            if self._playing:
                self.underruns += 1
                self._playing = False
            chunk = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        pcm = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE_HZ
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE_HZ)
        self._pts += FRAME_SAMPLES
        return frame
