"""Real servers for tests: ``duble serve`` in a subprocess on a free loopback port, own database and key prefix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("DUBLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DUBLE_TEST_REDIS", "redis://127.0.0.1:6379/0")
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    ws_url: str
    port: int
    database_url: str
    redis_prefix: str
    env: dict[str, str]
    log_path: Path
    pid: int = 0
    """The server process (``/proc/<pid>/status`` shows its memory)."""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def test_database_url(tag: str) -> str:
    return f"{PG_ADMIN_URL}/duble_test_{tag}"


def drop_database(url: str) -> None:
    import asyncio

    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def _drop() -> None:
        conn = await asyncpg.connect(f"{PG_ADMIN_URL}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(_drop())


@contextmanager
def run_server(tmp_dir: Path, extra_env: dict[str, str] | None = None, *, keep_database: str | None = None,
               args: list[str] | None = None) -> Iterator[RunningServer]:
    """Start ``duble serve``; yields once /healthz answers; stops it (SIGTERM) and drops its database after."""
    tag = uuid.uuid4().hex[:12]
    port = free_port()
    database_url = keep_database or test_database_url(tag)
    prefix = f"dubletest:{tag}:"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "DUBLE_REDIS_PREFIX": prefix,
        "DUBLE_DATA_DIR": str(tmp_dir / f"data-{tag}"),
        "DUBLE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log_path = tmp_dir / f"server-{tag}.log"
    cmd = [sys.executable, "-m", "realtime.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *(args or [])]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, database_url, prefix,
                           env, log_path, proc.pid)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()[-4000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.log()[-4000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if keep_database is None:
            drop_database(database_url)
