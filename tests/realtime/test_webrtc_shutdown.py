"""SIGTERM with 20 WebRTC calls whose ICE never completes: the server exits promptly and settles every call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import servers
from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice
from tests.realtime.test_webrtc_support import account_id, billing_state, connect, offer_sdp, recv_event, wait_closed
from tests.servers import REDIS_URL, ROOT, RunningServer, drop_database, free_port

CALLS = 20
EXIT_WITHIN_S = 10.0  # the bound; a clean server exits in about 2.5 s
STARTUP_TIMEOUT_S = 120.0


@contextlib.contextmanager
def server_process(tmp: Path, extra_env: dict[str, str]) -> Iterator[tuple[RunningServer, subprocess.Popen[bytes]]]:
    """``duble serve`` like tests.servers.run_server, but the test holds the process (to signal and time it)."""
    tag = uuid.uuid4().hex[:12]
    port = free_port()
    database_url = servers.test_database_url(tag)
    prefix = f"dubletest:{tag}:"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "DUBLE_REDIS_PREFIX": prefix, "DUBLE_DATA_DIR": str(tmp / f"data-{tag}"),
           "DUBLE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1", **extra_env}
    log_path = tmp / f"server-{tag}.log"
    cmd = [sys.executable, "-m", "realtime.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "info"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, database_url, prefix, env,
                           log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{server.log()[-4000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"server did not start:\n{server.log()[-4000:]}"
            time.sleep(0.2)
        yield server, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drop_database(database_url)


@pytest.fixture
def rtc_server(tmp_path: Path) -> Iterator[tuple[RunningServer, subprocess.Popen[bytes]]]:
    # Deadlines far beyond the test: at SIGTERM every call is still waiting for ICE.
    env = {"DUBLE_WEBRTC_ICE_ADDRESS": "127.0.0.1", "DUBLE_TTS_ENGINE": "fake",
           "DUBLE_WEBRTC_MAX_SESSIONS": str(CALLS), "DUBLE_WEBRTC_CONNECT_TIMEOUT_S": "300",
           "DUBLE_WEBRTC_IDLE_TIMEOUT_S": "600"}
    with server_process(tmp_path, env) as running:
        yield running


@contextlib.asynccontextmanager
async def calls_waiting_for_ice(server: RunningServer, key: str, voice_id: str, n: int) -> AsyncIterator[list[Any]]:
    """``n`` answered calls whose offer names a candidate nobody answers on (its peer was closed)."""
    sdp = await offer_sdp()
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(n):
            ws = await stack.enter_async_context(connect(server, key))
            await ws.send(json.dumps({"type": "start", "voice_id": voice_id}))
            assert (await recv_event(ws))["type"] == "started"
            await ws.send(json.dumps({"type": "offer", "sdp": sdp}))
            assert (await recv_event(ws, skip=("stats",)))["type"] == "answer"
            sockets.append(ws)
        yield sockets


async def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Seconds until ``proc`` exits (the loop keeps serving the clients' close handshakes meanwhile)."""
    t0 = time.monotonic()
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(proc.wait, timeout_s)
    return time.monotonic() - t0


async def test_sigterm_exits_promptly_with_calls_stuck_in_ice(
        rtc_server: tuple[RunningServer, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    server, proc = rtc_server
    key, headers = create_account(server)
    voice_id = str(upload_voice(server, headers, espeak_wav(tmp_path / "ref.wav", REFERENCE_TEXT["pt-BR"]))["id"])
    account = await account_id(server, key)
    async with calls_waiting_for_ice(server, key, voice_id, CALLS) as sockets:
        assert len(sockets) == CALLS
        proc.send_signal(signal.SIGTERM)
        took_s = await _wait_exit(proc, EXIT_WITHIN_S + 20)
        codes = [await wait_closed(ws) for ws in sockets]
    assert codes == [1012] * CALLS  # each call hung up with "service restart", none dropped (1006)
    log = server.log()
    assert proc.returncode is not None, f"still running {took_s:.1f} s after SIGTERM:\n{log[-3000:]}"
    print(json.dumps({"calls": CALLS, "sigterm_exit_s": round(took_s, 2)}))
    assert took_s < EXIT_WITHIN_S, log[-3000:]
    # A drained server exits 0 (a second signal would make uvicorn re-raise it).
    assert proc.returncode in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    # (closed in the ledger, still open there, usage charged, live in Redis): every call settled, nothing billed.
    assert await billing_state(server.database_url, server.redis_prefix, account) == (CALLS, 0, 0, 0)
