"""N mixed concurrent sessions (TTS speakers relayed to OBS listeners, live conversions) over two instances behind
HAProxy, on the fake TTS engine and the embedded WORLD converter. Prints one JSON line.

    python -m bench.load [--sessions 100] [--vc-share 0.1] [--listener-share 0.3]

sessions, errors (by code), ttfa_p95_ms (text sent -> first audio), vc_round_trip_p95_ms (an input sample sent ->
the output sample at the same position received), cpu_s and cpu_pct of each instance over the run (of one core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from tests.helpers import espeak_wav, upload_voice
from tests.ops.cluster import run_cluster
from tests.servers import RunningServer

VC_RATE = 16000
FRAME_MS = 20
TTS_TEXT = "A first sentence for the load test. And a second, slightly longer sentence to follow it."


@dataclass
class Results:
    errors: Counter[str] = field(default_factory=Counter)
    ttfa_ms: list[float] = field(default_factory=list)
    vc_rt_ms: list[float] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)


def _ws(server: RunningServer, path: str, key: str) -> Any:
    return websockets.connect(f"{server.ws_url}{path}{'&' if '?' in path else '?'}api_key={key}", max_size=None,
                              open_timeout=30)


async def _events_until_close(ws: Any, res: Results, kind: str, on_audio: Any = None) -> None:
    """Reads a stream to its end, acknowledging audio as a player does (without acks it stops after 3 s)."""
    received = 0
    try:
        async for msg in ws:
            if isinstance(msg, bytes):
                received += len(msg)
                with contextlib.suppress(websockets.ConnectionClosed):  # the close itself is read below
                    await ws.send(json.dumps({"type": "ack", "bytes": received}))
                if on_audio is not None:
                    on_audio(msg)
            elif (event := json.loads(msg))["type"] == "error":
                res.errors[f"{kind}:{event['code']}"] += 1
    except websockets.ConnectionClosedError as exc:
        res.errors[f"{kind}:closed_{exc.code}"] += 1
        return
    res.done[kind] += 1


async def tts_session(server: RunningServer, key: str, res: Results, channel: str | None) -> None:
    async with _ws(server, "/v1/tts/stream", key) as ws:
        start: dict[str, Any] = {"type": "start", "language": "en", "format": "pcm_s16le"}
        if channel:
            start["broadcast"] = channel
        await ws.send(json.dumps(start))
        started = json.loads(await ws.recv())
        if started["type"] != "started":
            res.errors[f"tts:{started.get('code')}"] += 1
            return
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "text", "text": TTS_TEXT}))
        await ws.send(json.dumps({"type": "end"}))
        first: list[float] = []

        def on_audio(_: bytes) -> None:
            if not first:
                first.append(time.perf_counter())
                res.ttfa_ms.append(1000 * (first[0] - sent))

        await _events_until_close(ws, res, "tts", on_audio)


async def listener_session(server: RunningServer, key: str, res: Results, channel: str, ready: asyncio.Event,
                           stop: asyncio.Event) -> None:
    async with _ws(server, f"/v1/tts/listen?channel={channel}", key) as ws:
        if json.loads(await ws.recv())["type"] != "listening":
            res.errors["listen:refused"] += 1
            ready.set()
            return
        ready.set()
        heard = 0

        async def read() -> None:
            nonlocal heard
            async for msg in ws:
                if isinstance(msg, str) and json.loads(msg)["type"] == "source_ended":
                    heard += 1
                    return

        try:
            await asyncio.wait_for(read(), timeout=120)
        except (TimeoutError, websockets.ConnectionClosedError):
            res.errors["listen:no_source_ended"] += 1
            return
        res.done["listen"] += 1


async def vc_session(server: RunningServer, key: str, voice_id: str, res: Results, seconds: float) -> None:
    rng = np.random.default_rng()
    n = int(VC_RATE * seconds)
    tone = (0.3 * np.sin(2 * np.pi * rng.uniform(120, 220) * np.arange(n) / VC_RATE) * 32767).astype("<i2")
    frame = VC_RATE * FRAME_MS // 1000
    sent_at: list[float] = []
    async with _ws(server, "/v1/vc/stream", key) as ws:
        await ws.send(json.dumps({"type": "start", "voice_id": voice_id, "sample_rate": VC_RATE}))
        started = json.loads(await ws.recv())
        if started["type"] != "started":
            res.errors[f"vc:{started.get('code')}"] += 1
            return
        received = 0

        def on_audio(data: bytes) -> None:
            nonlocal received
            received += len(data) // 2
            index = min(received, len(sent_at) * frame) // frame - 1
            if index >= 0:
                res.vc_rt_ms.append(1000 * (time.perf_counter() - sent_at[index]))

        async def send() -> None:
            t0 = time.perf_counter()
            with contextlib.suppress(websockets.ConnectionClosed):  # a close is counted by the reader
                for i in range(0, n, frame):
                    await asyncio.sleep(max(0.0, t0 + (i / VC_RATE) - time.perf_counter()))
                    sent_at.append(time.perf_counter())
                    await ws.send(tone[i:i + frame].tobytes())
                await ws.send(json.dumps({"type": "end"}))

        await asyncio.gather(send(), _events_until_close(ws, res, "vc", on_audio))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p95(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 95)), 1) if values else None


async def run(sessions: int, vc_share: float, listener_share: float, vc_seconds: float, tmp: Path) -> dict[str, Any]:
    env = {"DUBLE_TTS_CACHE_ENABLED": "false", "DUBLE_RATE_LIMITS_ENABLED": "false", "DUBLE_LOG_LEVEL": "warning",
           "DUBLE_FAKE_TTS_LATENCY_MS": "20", "DUBLE_SIGNUP_CREDITS": "1000"}
    with run_cluster(tmp, env) as cluster:
        front = cluster.proxy
        n_vc = round(sessions * vc_share)
        n_listen = round(sessions * listener_share)
        n_tts = sessions - n_vc - n_listen
        accounts = []
        async with httpx.AsyncClient(base_url=front.base_url, timeout=30) as http:
            for i in range(max(n_tts, 1)):
                resp = await http.post("/v1/accounts", json={"email": f"load{i}-{time.time_ns()}@example.com"})
                accounts.append(resp.json()["api_key"])
        voice_id = ""
        if n_vc:
            wav = espeak_wav(tmp / "ref.wav", "Olá pessoal, hoje vamos testar a conversão de voz ao vivo com calma.")
            voice_id = str(upload_voice(front, {"Authorization": f"Bearer {accounts[0]}"}, wav)["id"])
        res = Results()
        cpu0 = [_cpu_s(i.proc.pid) for i in cluster.instances]
        t0 = time.perf_counter()
        stop = asyncio.Event()
        listeners = []
        for i in range(n_listen):  # listeners first, each on a speaker's channel
            ready = asyncio.Event()
            key = accounts[i % len(accounts)]
            listeners.append((asyncio.create_task(listener_session(front, key, res, "obs", ready, stop)), ready))
        await asyncio.gather(*(ready.wait() for _, ready in listeners))
        tasks = []
        for i in range(n_tts):
            await asyncio.sleep(random.uniform(0, 0.02))
            tasks.append(asyncio.create_task(tts_session(front, accounts[i], res, "obs" if i < n_listen else None)))
        for _ in range(n_vc):
            tasks.append(asyncio.create_task(vc_session(front, accounts[0], voice_id, res, vc_seconds)))
        await asyncio.gather(*tasks, *(t for t, _ in listeners), return_exceptions=False)
        wall = time.perf_counter() - t0
        cpu = [round(_cpu_s(i.proc.pid) - c, 2) for i, c in zip(cluster.instances, cpu0, strict=True)]
    return {"sessions": sessions, "tts": n_tts, "vc": n_vc, "listeners": n_listen, "wall_s": round(wall, 2),
            "completed": dict(res.done), "errors": sum(res.errors.values()), "error_codes": dict(res.errors),
            "ttfa_p95_ms": _p95(res.ttfa_ms), "vc_round_trip_p95_ms": _p95(res.vc_rt_ms), "cpu_s": cpu,
            "cpu_pct": [round(100 * c / wall, 1) for c in cpu], "host_cores": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--vc-share", type=float, default=0.1)
    parser.add_argument("--listener-share", type=float, default=0.3)
    parser.add_argument("--vc-seconds", type=float, default=5.0)
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep the instances' and proxy's logs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="duble-load-") as tmp:
        work = Path(tmp)
        try:
            out = asyncio.run(run(args.sessions, args.vc_share, args.listener_share, args.vc_seconds, work))
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in work.glob("*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
