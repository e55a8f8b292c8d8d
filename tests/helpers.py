"""Small client-side helpers shared by tests (real HTTP against a running server)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from tests.servers import RunningServer

ESPEAK_VOICES = {"pt-BR": "pt-br", "es": "es", "en": "en-us"}


def create_account(server: RunningServer) -> tuple[str, dict[str, str]]:
    """New account; returns (api_key, auth headers)."""
    resp = httpx.post(f"{server.base_url}/v1/accounts", json={"email": f"t{uuid.uuid4().hex[:10]}@example.com"})
    assert resp.status_code == 201, resp.text
    key = resp.json()["api_key"]
    return key, {"Authorization": f"Bearer {key}"}


def espeak_wav(path: Path, text: str, language: str = "pt-BR", *, pitch: int = 50, speed_wpm: int = 150) -> Path:
    """Speech made by espeak-ng, written as WAV."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed (scripts/setup.sh installs it)"
    subprocess.run([exe, "-v", ESPEAK_VOICES[language], "-p", str(pitch), "-s", str(speed_wpm), "-w", str(path), text],
                   check=True, capture_output=True)
    return path


REFERENCE_TEXT = {
    "pt-BR": "Olá, pessoal! Hoje vamos testar a minha voz clonada ao vivo, com calma e bastante clareza.",
    "es": "Hola a todos, hoy vamos a probar mi voz clonada en directo, con calma y mucha claridad.",
    "en": "Hello everyone, today we are testing my cloned voice live, slowly and very clearly.",
}


def upload_voice(server: RunningServer, headers: dict[str, str], wav: Path, *, language: str = "pt-BR",
                 name: str = "minha voz", reference_text: str | None = None) -> dict[str, object]:
    data = {"name": name, "language": language}
    if reference_text is not None:
        data["reference_text"] = reference_text
    with open(wav, "rb") as fh:
        resp = httpx.post(f"{server.base_url}/v1/voices", headers=headers, data=data,
                          files={"audio": (wav.name, fh, "application/octet-stream")}, timeout=60)
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


_CONTAINERS = {
    "flac": ("flac", "flac", None),
    "mp3": ("mp3", "libmp3lame", None),
    "ogg": ("ogg", "libopus", 48000),
    "webm": ("webm", "libopus", 48000),
    "m4a": ("mp4", "aac", None),
}


def transcode(src: Path, dst: Path) -> Path:
    """Re-encode ``src`` into the container named by ``dst``'s suffix (flac, mp3, ogg, webm, m4a) with PyAV."""
    import av

    fmt, codec, rate = _CONTAINERS[dst.suffix.lstrip(".")]
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        in_stream = inp.streams.audio[0]
        out_rate = rate or in_stream.rate
        stream = out.add_stream(codec, rate=out_rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name if stream.format else "fltp", layout="mono",
                                      rate=out_rate)
        for frame in inp.decode(in_stream):
            for f in resampler.resample(frame):
                for p in stream.encode(f):
                    out.mux(p)
        for f in resampler.resample(None):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return dst


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    import soundfile as sf

    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a complete encoded stream (wav/ogg/mp3) into mono float32 at its own rate, with PyAV."""
    import io

    import av

    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray().reshape(-1) for frame in c.decode(stream) for f in resampler.resample(frame)]
    return np.concatenate(parts).astype(np.float32), int(rate)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """Wait for ``condition`` (state a component exposes) to hold, however slow the machine, for ``timeout_s``."""
    import asyncio
    import time

    import pytest

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout_s} s")
        await asyncio.sleep(0.002)
