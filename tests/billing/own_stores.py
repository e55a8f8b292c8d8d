"""A private redis-server and PostgreSQL cluster that a test may stop and start (outage tests). The shared
services on 6379/5432 are never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.servers import free_port

PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]) if Path("/usr/lib/postgresql").exists() \
    else Path("/usr/bin")
START_TIMEOUT_S = 60.0


class OwnRedis:
    """redis-server on a free port, no persistence: a restart comes back empty, like a lost cache."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed"
        with open(self._dir / "redis.log", "ab") as log:
            self._proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self._dir)], stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            assert self._proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


@contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class OwnPostgres:
    """A throw-away PostgreSQL cluster (trust auth) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: as root that is private to root, and the cluster runs as ``postgres``.
        self.root = Path(tempfile.mkdtemp(prefix="duble-pg-"))
        self._dir = self.root / "data"
        self._log = self.root / "postgres.log"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self._dir), "-U", "postgres",
                                     "--auth=trust", "--no-sync"]), check=True, capture_output=True)

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self._dir} -c fsync=off"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self._dir), "-l", str(self._log), "-o", opts,
                                     "-w", "-t", str(int(START_TIMEOUT_S)), "start"]),
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self._dir), "-m", "immediate", "-w",
                                     "stop"]), check=False, capture_output=True)


    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
