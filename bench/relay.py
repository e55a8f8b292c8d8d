"""OBS relay benchmark: how much later a listener (``/v1/tts/listen``) hears each piece of audio than the speaking
client, with N listeners on the channel. Prints one JSON line per case.

With no --url it starts its own server (``duble serve``, embedded engine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_server  # noqa: E402

TEXT = ("Olá, pessoal, sejam bem-vindos à live de hoje. Vamos falar de jogos e de música brasileira. "
        "Não esqueçam de seguir o canal! Até daqui a pouco.")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _arrivals(ws: Any, stop_event: str, out: list[tuple[int, float]], *, ack: bool = False) -> None:
    """(cumulative bytes, arrival time) for every audio frame until ``stop_event``; the speaker acks its audio."""
    total = 0
    async for msg in ws:
        if isinstance(msg, bytes):
            total += len(msg)
            out.append((total, time.perf_counter()))
            if ack:
                await ws.send(json.dumps({"type": "ack", "bytes": total}))
        elif json.loads(msg)["type"] == stop_event:
            return


def _lags_ms(speaker: list[tuple[int, float]], listener: list[tuple[int, float]]) -> list[float]:
    """For each byte count the speaker reached, how much later the listener had at least as many bytes."""
    lags, j = [], 0
    for count, t in speaker:
        while j < len(listener) and listener[j][0] < count:
            j += 1
        if j == len(listener):
            break
        lags.append(1000 * (listener[j][1] - t))
    return lags


async def _case(base: str, key: str, listeners: int, text: str) -> dict[str, Any]:
    ws_url = base.replace("http", "ws", 1)
    channel = f"bench{time.time_ns() % 10**9}"
    conns = [await websockets.connect(f"{ws_url}/v1/tts/listen?api_key={key}&channel={channel}", max_size=None)
             for _ in range(listeners)]
    try:
        for ws in conns:
            assert json.loads(await ws.recv())["type"] == "listening"
        heard: list[list[tuple[int, float]]] = [[] for _ in conns]
        tasks = [asyncio.create_task(_arrivals(ws, "source_ended", h)) for ws, h in zip(conns, heard, strict=True)]
        spoken: list[tuple[int, float]] = []
        async with websockets.connect(f"{ws_url}/v1/tts/stream?api_key={key}", max_size=None) as ws:
            await ws.send(json.dumps({"type": "start", "language": "pt-BR", "format": "pcm_s16le",
                                      "sample_rate": 24000, "broadcast": channel}))
            await ws.send(json.dumps({"type": "text", "text": text}))
            await ws.send(json.dumps({"type": "end"}))
            await _arrivals(ws, "done", spoken, ack=True)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    finally:
        for ws in conns:
            await ws.close()
    lags = [lag for h in heard for lag in _lags_ms(spoken, h)]
    complete = sum(1 for h in heard if h and spoken and h[-1][0] == spoken[-1][0])
    return {"bench": "relay", "listeners": listeners, "chunks": len(spoken),
            "audio_ms": round(spoken[-1][0] / 48, 1) if spoken else 0,
            "lag_ms_p50": round(statistics.median(lags), 2) if lags else None,
            "lag_ms_p95": round(_pct(lags, 0.95), 2) if lags else None,
            "lag_ms_max": round(max(lags), 2) if lags else None,
            "listeners_complete": complete}


async def _run(base: str, listener_counts: list[int], repeat: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post("/v1/accounts", json={"email": f"relay{time.time_ns()}@example.com"})
        key = resp.json()["api_key"]
    for n in listener_counts:
        for i in range(repeat):
            print(json.dumps(await _case(base, key, n, f"{TEXT} ({i} {n})")), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", help="base URL of a running server; without it a server is started")
    p.add_argument("--listeners", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    with ExitStack() as stack:
        base = args.url
        if base is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            base = stack.enter_context(run_server(Path(tmp))).base_url
        asyncio.run(_run(base, args.listeners, args.repeat))


if __name__ == "__main__":
    main()
