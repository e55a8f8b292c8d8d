"""Live voice conversion over /v1/vc/stream: latency, round trip, gaps, stream count. Prints JSON lines.

    python -m bench.vc_stream [--url URL] [--engine world|rvc] [--seconds S] [--max-streams N]

Without --url it starts its own server (tiny RVC content encoder). Input is a 200 Hz tone gated on and off at
random, sent in 20 ms frames at real-time pace; the output's lag is found by correlating envelopes, and each received
chunk's round trip is (time its first sample arrived) − (time the matching input sample was sent).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

RATE = 16000
FRAME_MS = 20
ENV_HOP = 80  # 5 ms envelope frames
ACTIVE_DB, SILENT_DB = -30.0, -50.0


@dataclass
class Target:
    ws_url: str
    api_key: str
    voice_id: str


@dataclass
class StreamResult:
    sent_at: list[float] = field(default_factory=list)
    chunks: list[tuple[float, int]] = field(default_factory=list)  # (arrival time, first sample index)
    audio: bytearray = field(default_factory=bytearray)
    events: list[dict[str, Any]] = field(default_factory=list)


def gated_tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    gate = np.zeros(n, dtype=np.float32)
    pos, on = 0, True
    while pos < n:
        length = int(rng.uniform(0.12, 0.45) * RATE)
        gate[pos:pos + length] = 1.0 if on else 0.0
        pos, on = pos + length, not on
    gate = np.convolve(gate, np.hanning(81) / np.hanning(81).sum(), mode="same").astype(np.float32)
    t = np.arange(n) / RATE
    return (0.3 * gate * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def _envelope_db(x: np.ndarray) -> np.ndarray:
    frames = x[: len(x) // ENV_HOP * ENV_HOP].reshape(-1, ENV_HOP)
    return np.asarray(10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10))


def find_lag(x: np.ndarray, y: np.ndarray, max_lag_s: float = 1.0) -> int:
    ex, ey = _envelope_db(x), _envelope_db(y)
    ex, ey = (ex > ACTIVE_DB).astype(float) - 0.5, (ey > ACTIVE_DB - 10).astype(float) - 0.5
    best, best_score = 0, -np.inf
    for lag in range(int(max_lag_s * RATE / ENV_HOP)):
        n = min(len(ex), len(ey) - lag)
        if n <= 0:
            break
        score = float(np.dot(ex[:n], ey[lag:lag + n])) / n
        if score > best_score:
            best, best_score = lag, score
    return best * ENV_HOP


def count_gaps(x: np.ndarray, y: np.ndarray, lag: int) -> int:
    """20 ms frames where the input is clearly active (away from its edges) but the output is near-silent."""
    frame = RATE * FRAME_MS // 1000
    n = min(len(x), len(y) - lag) // frame
    gaps = 0
    for i in range(2, n - 2):
        xin = x[(i - 2) * frame:(i + 3) * frame]
        if np.min(_envelope_db(xin)) < ACTIVE_DB:
            continue
        out = y[lag + i * frame: lag + (i + 1) * frame]
        if 10 * np.log10(np.mean(out.astype(np.float64) ** 2) + 1e-10) < SILENT_DB:
            gaps += 1
    return gaps


async def run_stream(target: Target, engine: str, audio: np.ndarray) -> StreamResult:
    res = StreamResult()
    url = f"{target.ws_url}/v1/vc/stream?api_key={target.api_key}"
    step = RATE * FRAME_MS // 1000
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "start", "voice_id": target.voice_id, "sample_rate": RATE,
                                  "engine": engine}))
        res.events.append(json.loads(await ws.recv()))
        if res.events[0]["type"] != "started":
            raise RuntimeError(f"start failed: {res.events[0]}")

        async def send() -> None:
            t0 = time.monotonic()
            for i, pos in enumerate(range(0, len(audio), step)):
                res.sent_at.append(time.monotonic())
                await ws.send((audio[pos:pos + step] * 32767).astype("<i2").tobytes())
                await asyncio.sleep(max(0.0, t0 + (i + 1) * FRAME_MS / 1000 - time.monotonic()))
            await ws.send(json.dumps({"type": "end"}))

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for msg in ws:
                    if isinstance(msg, bytes):
                        res.chunks.append((time.monotonic(), len(res.audio) // 2))
                        res.audio += msg
                        await ws.send(json.dumps({"type": "ack", "bytes": len(res.audio)}))
                    else:
                        res.events.append(json.loads(msg))

        await asyncio.gather(send(), receive())
    return res


def summarize(res: StreamResult, audio: np.ndarray) -> dict[str, Any]:
    y = np.frombuffer(bytes(res.audio), dtype="<i2").astype(np.float32) / 32768
    lag = find_lag(audio, y)
    step = RATE * FRAME_MS // 1000
    trips = []
    for arrived, first in res.chunks:
        src = first - lag
        if 0 <= src < len(audio) and src // step < len(res.sent_at):
            trips.append(1000 * (arrived - res.sent_at[src // step]) - 1000 * (src % step) / RATE)
    stats = [e for e in res.events if e["type"] == "stats"]
    done = next((e for e in res.events if e["type"] == "done"), {})
    last = stats[-1] if stats else {}
    return {
        "block_ms": res.events[0].get("block_ms"),
        "algorithmic_latency_ms": res.events[0].get("algorithmic_latency_ms"),
        "proc_ms_p50": last.get("proc_ms_p50"), "proc_ms_p95": last.get("proc_ms_p95"),
        "roundtrip_ms_p50": round(float(np.percentile(trips, 50)), 1) if trips else None,
        "roundtrip_ms_p95": round(float(np.percentile(trips, 95)), 1) if trips else None,
        "lag_ms": round(1000 * lag / RATE, 1),
        "input_samples": len(audio), "output_samples": len(y), "output_minus_input": len(y) - len(audio),
        "gaps": count_gaps(audio, y, lag), "dropped_ms": done.get("dropped_ms"),
    }


def setup_target(base_url: str, engine: str, tmp: Path) -> Target:
    from synthesis.rvc.tiny import write_tiny_rvc
    from tests.helpers import REFERENCE_TEXT, espeak_wav

    email = f"bench{uuid.uuid4().hex[:8]}@example.com"
    key = httpx.post(f"{base_url}/v1/accounts", json={"email": email}).json()["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    wav = espeak_wav(tmp / "ref.wav", REFERENCE_TEXT["pt-BR"])
    voice = httpx.post(f"{base_url}/v1/voices", headers=headers, data={"name": "bench", "language": "pt-BR"},
                       files={"audio": ("ref.wav", wav.read_bytes())}, timeout=60).json()
    if engine == "rvc":
        tiny = write_tiny_rvc(tmp / "rvc", content=False)
        r = httpx.post(f"{base_url}/v1/voices/{voice['id']}/rvc-model", headers=headers,
                       files={"model": ("voice.pth", tiny.model_path.read_bytes())}, timeout=60)
        r.raise_for_status()
    ws_url = base_url.replace("http://", "ws://").replace("https://", "wss://")
    return Target(ws_url, key, str(voice["id"]))


@contextlib.contextmanager
def own_server(tmp: Path) -> Iterator[str]:
    from synthesis.rvc.content import write_tiny_content_encoder
    from tests.servers import run_server

    content = write_tiny_content_encoder(tmp / "content")
    with run_server(tmp, {"DUBLE_VC_MAX_BACKLOG_MS": "300"}, args=["--content-encoder", str(content)]) as srv:
        yield srv.base_url


async def measure(target: Target, engine: str, seconds: float, max_streams: int) -> None:
    audio = gated_tone(seconds, 0)
    one = summarize(await run_stream(target, engine, audio), audio)
    print(json.dumps({"case": "single_stream", "engine": engine, "seconds": seconds, **one}),
          flush=True)
    sustained = 0
    n = 1
    trial = gated_tone(min(seconds, 10.0), 1)
    while n <= max_streams:
        results = await asyncio.gather(*(run_stream(target, engine, trial) for _ in range(n)),
                                       return_exceptions=True)
        ok = [summarize(r, trial) for r in results if isinstance(r, StreamResult)]
        good = len(ok) == n and all(s["gaps"] == 0 and not s["dropped_ms"] for s in ok)
        worst = max((s["roundtrip_ms_p95"] or 1e9) for s in ok) if ok else None
        print(json.dumps({"case": "concurrency", "engine": engine, "streams": n, "ok": good,
                          "roundtrip_ms_p95_worst": worst,
                          "gaps": sum(s["gaps"] for s in ok), "dropped_ms": sum(s["dropped_ms"] or 0 for s in ok),
                          "errors": n - len(ok)}), flush=True)
        if not good:
            break
        sustained = n
        n *= 2
    print(json.dumps({"case": "max_streams", "engine": engine, "max_streams": sustained}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="server base URL (default: start one)")
    ap.add_argument("--engine", choices=["world", "rvc"], default="world")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-streams", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with contextlib.ExitStack() as stack:
            base = args.url or stack.enter_context(own_server(tmp))
            target = setup_target(base, args.engine, tmp)
            asyncio.run(measure(target, args.engine, args.seconds, args.max_streams))


if __name__ == "__main__":
    main()
