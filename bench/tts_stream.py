"""Streamed-TTS benchmark: time to first audio and real-time factor over N concurrent WebSocket sessions.

Prints one JSON line per case, with the machine's load average. ``stall_ms`` is the silence a player that starts at
the first byte would hear mid-stream (audio arriving after the audio before it has played out). With no --url it
starts its own server (``duble serve``) with the given engine flags. ``--held-out`` speaks texts written for
measurement only (never used to pick the engine's chunk sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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

from tests.helpers import REFERENCE_TEXT, espeak_wav  # noqa: E402
from tests.servers import run_server  # noqa: E402

TEXTS = {
    "pt-BR": "Olá, pessoal, sejam bem-vindos à live de hoje. Vamos falar de jogos e de música brasileira. "
             "Não esqueçam de seguir o canal!",
    "en": "Hello everyone, welcome to today's stream. We are going to talk about games and music. "
          "Don't forget to follow the channel!",
    "es": "Hola a todos, bienvenidos al directo de hoy. Vamos a hablar de juegos y de música. "
          "¡No olviden seguir el canal!",
}

HELD_OUT_TEXTS = {
    "pt-BR": "A padaria da esquina abre cedo e vende pão quente todos os dias. Minha irmã comprou uma bicicleta "
             "nova para ir ao trabalho. Depois da chuva, as crianças brincaram no quintal até escurecer.",
    "es": "La panadería de la esquina abre temprano y vende pan caliente todos los días. Mi hermana compró una "
          "bicicleta nueva para ir al trabajo. Después de la lluvia, los niños jugaron en el patio hasta el anochecer.",
    "en": "The bakery on the corner opens early and sells warm bread every day. My sister bought a new bicycle to "
          "ride to work. After the rain, the children played in the yard until it got dark.",
}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tagged(text: str, tag: str) -> str:
    """The same sentences with a per-session number in each, so no sentence is a synthesis-cache hit."""
    out, sentence = [], ""
    for word in text.split(" "):
        sentence = f"{sentence} {word}".strip()
        if word[-1:] in ".!?":
            out.append(f"{sentence[:-1]} {tag}{sentence[-1]}")
            sentence = ""
    return " ".join(out + ([sentence] if sentence else []))


async def _stats(base: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.get("/v1/stats")
    return resp.json() if resp.status_code == 200 else None


def _stats_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Queue wait per worker job and cache hit rate over one case, from the server's /v1/stats."""
    if not before or not after:
        return {}
    out: dict[str, Any] = {}
    wb, wa = before["worker"], after["worker"]
    jobs = (wa["completed"] + wa["failed"]) - (wb["completed"] + wb["failed"])
    if jobs > 0 and "queue_wait_ms_total" in wa:
        out["queue_wait_ms"] = round((wa["queue_wait_ms_total"] - wb["queue_wait_ms_total"]) / jobs, 1)
    out["busy_rejections"] = wa["rejected_busy"] - wb["rejected_busy"]
    cb, ca = before.get("tts_cache", {}), after.get("tts_cache", {})
    if ca.get("available") and cb.get("available"):
        hits, misses = ca["hits"] - cb["hits"], ca["misses"] - cb["misses"]
        if hits + misses:
            out["cache_hit"] = round(hits / (hits + misses), 3)
    return out


async def _session(ws_url: str, key: str, voice_id: str | None, language: str, text: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    ttfa = None
    audio_bytes = 0
    extra: dict[str, Any] = {}
    played_until = stall_s = 0.0
    async with websockets.connect(f"{ws_url}/v1/tts/stream?api_key={key}", max_queue=None, max_size=None) as ws:
        start: dict[str, Any] = {"type": "start", "language": language, "format": "pcm_s16le", "sample_rate": 24000}
        if voice_id:
            start["voice_id"] = voice_id
        await ws.send(json.dumps(start))
        for word in text.split(" "):
            await ws.send(json.dumps({"type": "text", "text": word + " "}))
        await ws.send(json.dumps({"type": "end"}))
        errors = []
        done = False
        async for msg in ws:
            if isinstance(msg, bytes):
                now = time.perf_counter() - t0
                if ttfa is None:
                    ttfa = played_until = now
                # A player that starts at the first byte: any gap before the next audio arrives is heard.
                stall_s += max(0.0, now - played_until)
                played_until = max(played_until, now) + len(msg) / 2 / 24000
                audio_bytes += len(msg)
                # The server may have sent `done` and closed while this chunk was in flight.
                with contextlib.suppress(websockets.ConnectionClosedOK):
                    await ws.send(json.dumps({"type": "ack", "bytes": audio_bytes}))
                continue
            event = json.loads(msg)
            done = done or event["type"] == "done"
            if event["type"] == "error":
                errors.append(event["code"])
            elif event["type"] in ("segment", "done", "started"):
                for field in ("queue_wait_ms", "cache_hit"):
                    if field in event:
                        extra.setdefault(field, []).append(event[field])
    total = time.perf_counter() - t0
    if not done and not errors:
        errors.append("closed_without_done")
    return {"ttfa_s": ttfa, "total_s": total, "audio_s": audio_bytes / 2 / 24000, "stall_s": stall_s,
            "errors": errors, **extra}


async def _voice(base: str, language: str, matched: bool) -> tuple[str, str | None]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        key = (await http.post("/v1/accounts", json={"email": f"bench{time.time_ns()}@example.com"})).json()["api_key"]
        voice_id = None
        if matched:
            with tempfile.TemporaryDirectory() as tmp:
                wav = espeak_wav(Path(tmp) / "ref.wav", REFERENCE_TEXT[language], language, pitch=70)
                resp = await http.post("/v1/voices", headers={"Authorization": f"Bearer {key}"},
                                       data={"name": "bench", "language": language,
                                             "reference_text": REFERENCE_TEXT[language]},
                                       files={"audio": ("ref.wav", wav.read_bytes(), "audio/wav")})
                resp.raise_for_status()
                voice_id = resp.json()["id"]
    return key, voice_id


# Seeded per process, so a second run against the same server does not replay the first run's sentences from cache.
_run_counter = iter(range(os.getpid() % 97 * 10 + 1, 1 << 30))


async def _case(base: str, ws_url: str, concurrency: int, language: str, matched: bool,
                *, repeat_text: bool = False, held_out: bool = False) -> dict[str, Any]:
    key, voice_id = await _voice(base, language, matched)
    text = (HELD_OUT_TEXTS if held_out else TEXTS)[language]
    if repeat_text:  # the cache case: speak the text once unmeasured, then measure the repeat
        await _session(ws_url, key, voice_id, language, text)
    texts = [text if repeat_text else _tagged(text, str(next(_run_counter))) for _ in range(concurrency)]
    before = await _stats(base)
    results = await asyncio.gather(
        *(_session(ws_url, key, voice_id, language, t) for t in texts),
        return_exceptions=True,
    )
    after = await _stats(base)
    ok = [r for r in results if isinstance(r, dict) and r["ttfa_s"] is not None and not r["errors"]]
    errors = [r for r in results if not (isinstance(r, dict) and r["ttfa_s"] is not None and not r["errors"])]
    ttfa = [1000 * r["ttfa_s"] for r in ok]
    total = [1000 * r["total_s"] for r in ok]
    rtf = [r["total_s"] / r["audio_s"] for r in ok if r["audio_s"] > 0]
    line: dict[str, Any] = {
        "bench": "tts_stream", "language": language, "voice_matched": matched, "concurrency": concurrency,
        "ttfa_ms": round(statistics.median(ttfa), 1) if ttfa else None,
        "ttfa_ms_p95": round(_pct(ttfa, 0.95), 1) if ttfa else None,
        "total_ms": round(statistics.median(total), 1) if total else None,
        "audio_ms": round(1000 * statistics.mean(r["audio_s"] for r in ok), 1) if ok else None,
        "rtf": round(statistics.median(rtf), 3) if rtf else None,
        "stall_ms": round(1000 * statistics.median(r["stall_s"] for r in ok), 1) if ok else None,
        "errors": len(errors),
        "error_codes": sorted({c for r in errors if isinstance(r, dict) for c in r["errors"]}
                              | {type(r).__name__ for r in errors if isinstance(r, BaseException)}),
    }
    fractions = [r["ttfa_s"] / r["total_s"] for r in ok if r["total_s"] > 0]
    if fractions:
        line["ttfa_fraction"] = round(statistics.median(fractions), 3)
    line["cached_text"] = repeat_text
    line["loadavg_1m"] = round(os.getloadavg()[0], 2)
    line.update(_stats_delta(before, after))
    return line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", help="base URL of a running server; without it a server is started")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--languages", nargs="+", default=["en", "pt-BR"])
    p.add_argument("--unmatched", action="store_true", help="also run cases without a voice profile")
    p.add_argument("--only-unmatched", action="store_true", help="run only cases without a voice profile")
    p.add_argument("--repeat", type=int, default=1, help="runs per case")
    p.add_argument("--tts-engine", default=None, help="engine for the server this script starts")
    p.add_argument("--f5-dir", default=None, help="F5 model directory for the server this script starts")
    p.add_argument("--f5-nfe-steps", type=int, default=None, help="F5 sampling steps (server this script starts)")
    p.add_argument("--device", default=None, help="compute device of the server this script starts (cpu, cuda)")
    p.add_argument("--base-voices", default=None,
                   help='embedded base voices (JSON) for the server this script starts, e.g. \'{"en": "piper"}\'')
    p.add_argument("--kokoro-threads", type=int, default=None, help="Kokoro intra-op threads (server started here)")
    p.add_argument("--held-out", action="store_true", help="speak the held-out measurement texts")
    p.add_argument("--no-cache-case", action="store_true",
                   help="skip the case that repeats an already spoken text (a synthesis-cache hit)")
    return p.parse_args(argv)


async def _run(args: argparse.Namespace, base: str) -> None:
    ws_url = base.replace("http", "ws", 1)
    for language in args.languages:
        for matched in ([False] if args.only_unmatched else [True, False] if args.unmatched else [True]):
            for concurrency in args.concurrency:
                for _ in range(args.repeat):
                    line = await _case(base, ws_url, concurrency, language, matched, held_out=args.held_out)
                    print(json.dumps(line), flush=True)
            if not args.no_cache_case:
                print(json.dumps(await _case(base, ws_url, 1, language, matched, repeat_text=True)), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with ExitStack() as stack:
        base = args.url
        if base is None:
            extra = ["--tts-engine", args.tts_engine] if args.tts_engine else []
            extra += ["--f5-dir", args.f5_dir] if args.f5_dir else []
            extra += ["--f5-nfe-steps", str(args.f5_nfe_steps)] if args.f5_nfe_steps else []
            extra += ["--device", args.device] if args.device else []
            env = {"DUBLE_EMBEDDED_BASE_VOICES": args.base_voices} if args.base_voices else {}
            if args.kokoro_threads:
                env["DUBLE_KOKORO_THREADS"] = str(args.kokoro_threads)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            base = stack.enter_context(run_server(tmp, env, args=extra)).base_url
        asyncio.run(_run(args, base.rstrip("/")))


if __name__ == "__main__":
    main()
