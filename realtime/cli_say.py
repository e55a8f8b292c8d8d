"""``duble say``: a command-line client of ``/v1/tts/stream`` that speaks text as it arrives on stdin.

    some-llm --stream | duble say --voice VOICE_ID --out live.wav

Each piece read from stdin goes out at once as a ``text`` message, so the server starts speaking a sentence as soon
as it is complete; audio is written to ``--out`` (a file, or ``-`` for stdout) as it comes back. Segments and usage
go to stderr. Exit status: 0 done, 1 the server reported an error or closed abnormally, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import io
import json
import os
import struct
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, cast

MAX_TEXT_MESSAGE_CHARS = 4000  # under the server's 5000-character limit per message
WAV_HEADER_BYTES = 44


class SayError(Exception):
    pass


def add_say_parser(sub: Any) -> None:
    say = sub.add_parser("say", help="speak text (arguments, or stdin as it streams in) through a running server",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    say.add_argument("text", nargs="*", help="text to speak; without it stdin is streamed until EOF")
    say.add_argument("--url", default=os.environ.get("DUBLE_URL", "http://127.0.0.1:8000"))
    say.add_argument("--api-key", default=os.environ.get("DUBLE_API_KEY"), help="or DUBLE_API_KEY")
    say.add_argument("--voice", help="voice profile id")
    say.add_argument("--language", choices=["pt-BR", "es", "en"])
    say.add_argument("--format", default="wav", choices=["wav", "pcm_s16le", "ogg_opus", "mp3"])
    say.add_argument("--sample-rate", type=int, default=24000)
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument("--pitch", type=float, default=0.0)
    say.add_argument("--broadcast", help="also relay to the OBS sources listening on this channel")
    say.add_argument("--out", default="-", help="output file, or - for stdout (default)")
    say.set_defaults(func=run_say)


def run_say(args: argparse.Namespace) -> int:
    if not args.api_key:
        print("duble say: give --api-key or set DUBLE_API_KEY", file=sys.stderr)
        return 2
    if not args.text and sys.stdin.isatty():
        print("duble say: give the text as arguments, or pipe it into stdin", file=sys.stderr)
        return 2
    to_stdout = args.out == "-"
    out: BinaryIO = sys.stdout.buffer if to_stdout else open(args.out, "wb")  # noqa: SIM115
    try:
        asyncio.run(_say(args, out))
    except SayError as exc:
        print(f"duble say: {exc}", file=sys.stderr)
        return 1
    finally:
        if not to_stdout:
            out.close()
    if not to_stdout and args.format == "wav":
        _fix_wav_sizes(Path(args.out))
    return 0


def _start_message(args: argparse.Namespace) -> dict[str, Any]:
    start: dict[str, Any] = {"type": "start", "format": args.format, "sample_rate": args.sample_rate,
                             "speed": args.speed, "pitch": args.pitch}
    for field, value in (("voice_id", args.voice), ("language", args.language), ("broadcast", args.broadcast)):
        if value:
            start[field] = value
    return start


async def _say(args: argparse.Namespace, out: BinaryIO) -> None:
    import websockets

    ws_url = args.url.replace("http", "ws", 1).rstrip("/") + "/v1/tts/stream"
    headers = {"Authorization": f"Bearer {args.api_key}"}
    try:
        ws = await websockets.connect(ws_url, additional_headers=headers, max_size=None, open_timeout=15)
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        raise SayError(f"cannot reach {ws_url}: {exc}") from None
    async with ws:
        await ws.send(json.dumps(_start_message(args)))
        first = json.loads(await ws.recv())
        if first.get("type") != "started":
            raise SayError(f"{first.get('code', 'refused')}: {first.get('message', first)}")
        sender = asyncio.create_task(_send_text(ws, args.text))
        try:
            await _receive(ws, out)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await sender


async def _send_text(ws: Any, words: list[str]) -> None:
    if words:
        await ws.send(json.dumps({"type": "text", "text": " ".join(words)}))
    else:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        chunks = _stdin_chunks()
        while chunk := await chunks.get():
            if text := decoder.decode(chunk):
                await ws.send(json.dumps({"type": "text", "text": text}))
        if tail := decoder.decode(b"", final=True):
            await ws.send(json.dumps({"type": "text", "text": tail}))
    await ws.send(json.dumps({"type": "end"}))


def _stdin_chunks() -> asyncio.Queue[bytes]:
    """Pieces of stdin as they arrive (b"" at EOF), read by a daemon thread: a blocked read must not keep the
    process alive once the server has ended the stream."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    reader = cast(io.BufferedReader, sys.stdin.buffer)

    def pump() -> None:
        while True:
            chunk = reader.read1(MAX_TEXT_MESSAGE_CHARS)
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            if not chunk:
                return

    threading.Thread(target=pump, name="duble-say-stdin", daemon=True).start()
    return queue


async def _receive(ws: Any, out: BinaryIO) -> None:
    import websockets

    failure: str | None = None
    received_bytes = 0
    try:
        async for msg in ws:
            if isinstance(msg, bytes):
                out.write(msg)
                out.flush()
                # Acknowledged once written: the server keeps only a few seconds of audio unacknowledged.
                received_bytes += len(msg)
                with contextlib.suppress(websockets.ConnectionClosedOK):
                    await ws.send(json.dumps({"type": "ack", "bytes": received_bytes}))
                continue
            event = json.loads(msg)
            kind = event.get("type")
            if kind == "segment":
                print(f"[{event['start_ms'] / 1000:7.2f}s] {event['text']}", file=sys.stderr)
            elif kind == "usage":
                print(f"          {event['credits_left']:.2f} credits left", file=sys.stderr)
            elif kind == "error":
                print(f"error {event['code']}: {event['message']}", file=sys.stderr)
                failure = f"{event['code']}: {event['message']}"
            elif kind == "done":
                print(f"done: {event['audio_ms'] / 1000:.2f} s of audio", file=sys.stderr)
                break
    except websockets.ConnectionClosedError as exc:
        raise SayError(failure or f"connection closed ({exc.code})") from None
    if ws.close_code not in (None, 1000) or failure is not None:
        raise SayError(failure or f"connection closed ({ws.close_code})")


def _fix_wav_sizes(path: Path) -> None:
    """A streamed WAV header says 'length unknown'; once the file is complete, write the real sizes."""
    size = path.stat().st_size
    if size < WAV_HEADER_BYTES:
        return
    with open(path, "r+b") as fh:
        if fh.read(4) != b"RIFF":
            return
        fh.seek(4)
        fh.write(struct.pack("<I", size - 8))
        fh.seek(40)
        fh.write(struct.pack("<I", size - WAV_HEADER_BYTES))
