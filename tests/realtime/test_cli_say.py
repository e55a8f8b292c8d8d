"""``duble say`` as a user runs it: a real subprocess streaming stdin to a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import soundfile

from tests.helpers import create_account
from tests.servers import ROOT, RunningServer, free_port


def _say(server_url: str, *args: str, api_key: str | None = None, stdin: int | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DUBLE_API_KEY", "DUBLE_URL")}
    if api_key is not None:
        env["DUBLE_API_KEY"] = api_key
    return subprocess.Popen([sys.executable, "-m", "realtime.cli", "say", "--url", server_url, *args], cwd=ROOT,
                            env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def test_streams_stdin_and_writes_a_complete_wav(fake_server: RunningServer, tmp_path: Path) -> None:
    key, _ = create_account(fake_server)
    out = tmp_path / "live.wav"
    proc = _say(fake_server.base_url, "--language", "pt-BR", "--out", str(out), api_key=key, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"Primeira frase, chegando aos poucos. ")
    proc.stdin.flush()
    # The first sentence is spoken while stdin is still open (an LLM still writing): wait for half a second of its
    # audio in the file (the writer may flush it in several chunks), however slow the machine.
    deadline = time.monotonic() + 60
    while _size(out) <= 44 + 24000 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _size(out) > 44 + 24000, "no audio before the input ended"
    # A multi-byte character split across writes must survive.
    rest = "E a segunda, com acentuação: ação! ".encode()
    cut = rest.index("ç".encode()) + 1
    proc.stdin.write(rest[:cut])
    proc.stdin.flush()
    time.sleep(0.2)
    _, err = proc.communicate(rest[cut:], timeout=60)  # writes the rest, then closes stdin (EOF)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Primeira frase, chegando aos poucos." in log and "E a segunda, com acentuação: ação!" in log
    done_s = float(log.split("done: ")[1].split(" s")[0])
    info = soundfile.info(out)
    assert info.samplerate == 24000 and info.channels == 1
    assert abs(info.duration - done_s) < 0.011


def test_text_arguments_to_stdout(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    proc = _say(fake_server.base_url, "--language", "en", "--format", "pcm_s16le", "--sample-rate", "16000",
                "Hello", "there.", api_key=key)
    pcm, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    done_s = float(err.decode().split("done: ")[1].split(" s")[0])
    assert len(pcm) % 2 == 0 and abs(len(pcm) / 2 / 16000 - done_s) < 0.011


def test_errors_exit_non_zero_with_a_message(fake_server: RunningServer) -> None:
    key, _ = create_account(fake_server)
    cases = [
        (["--voice", "00000000-0000-0000-0000-000000000000", "Oi."], key, 1, "voice_not_found"),
        (["--language", "en", "Hi."], "wrong-key", 1, "unauthorized"),
        (["--language", "en", "Hi."], None, 2, "DUBLE_API_KEY"),
        (["--language", "en", "--sample-rate", "44100", "--format", "ogg_opus", "Hi."], key, 1,
         "invalid_sample_rate"),
    ]
    for args, api_key, code, message in cases:
        proc = _say(fake_server.base_url, *args, api_key=api_key)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code and message in err.decode(), (args, err.decode())
        assert out == b""
    proc = _say(f"http://127.0.0.1:{free_port()}", "--language", "en", "Hi.", api_key=key)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "cannot reach" in err.decode()
