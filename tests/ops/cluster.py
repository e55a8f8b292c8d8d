"""Several ``duble serve`` instances sharing one database and Redis prefix, with HAProxy in front (deploy/haproxy.cfg),
each a real process the tests can SIGTERM or SIGKILL."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from realtime.storage.db import migrate
from tests.servers import REDIS_URL, ROOT, STARTUP_TIMEOUT_S, RunningServer, drop_database, free_port, test_database_url

HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, *, status: int = 200) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered {status}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)


@dataclass
class Instance:
    name: str
    server: RunningServer
    proc: subprocess.Popen[bytes] = field(repr=False)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout_s: float = 60) -> int:
        return self.proc.wait(timeout=timeout_s)


@dataclass
class Cluster:
    instances: list[Instance]
    proxy: RunningServer  # base_url/ws_url of HAProxy; database_url and prefix shared by all instances
    env: dict[str, str]


def launch_instance(tmp_dir: Path, name: str, env: dict[str, str], stack: ExitStack,
                    port: int | None = None) -> Instance:
    """Start ``duble serve``; returns at once (``wait_ready`` waits for /healthz)."""
    port = port or free_port()
    log = tmp_dir / f"{name}.log"
    run_env = {**env, "DUBLE_DATA_DIR": str(tmp_dir / f"data-{name}"), "DUBLE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "realtime.cli", "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--log-level", "warning"], cwd=ROOT, env=run_env, stdout=fh,
                                stderr=subprocess.STDOUT)
    stack.callback(_stop, proc)
    server = RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, env["DATABASE_URL"],
                           env["DUBLE_REDIS_PREFIX"], run_env, log)
    return Instance(name, server, proc)


def wait_ready(instance: Instance) -> None:
    _wait_http(f"{instance.server.base_url}/healthz", instance.proc, instance.server.log_path)


def start_instance(tmp_dir: Path, name: str, env: dict[str, str], stack: ExitStack,
                   port: int | None = None) -> Instance:
    instance = launch_instance(tmp_dir, name, env, stack, port)
    wait_ready(instance)
    return instance


def _migrate(url: str) -> None:
    """Before the instances start, so they need not race to create the database."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate(url)).result()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # a drain: immediate when no session is open
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_proxy(tmp_dir: Path, backends: list[int], stack: ExitStack, env: dict[str, str]) -> RunningServer:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert os.path.exists(exe), "haproxy is not installed (scripts/setup.sh installs it with WITH_DEV=1)"
    port = free_port()
    log = tmp_dir / "haproxy.log"
    proxy_env = {**os.environ, "DUBLE_PROXY_BIND": f"127.0.0.1:{port}",
                 "DUBLE_API1": f"127.0.0.1:{backends[0]}", "DUBLE_API2": f"127.0.0.1:{backends[1]}"}
    with open(log, "ab") as fh:
        proc = subprocess.Popen([exe, "-db", "-f", str(HAPROXY_CFG)], env=proxy_env, stdout=fh,
                                stderr=subprocess.STDOUT)
    stack.callback(_stop_proxy, proc)
    _wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
    return RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", port, env["DATABASE_URL"],
                         env["DUBLE_REDIS_PREFIX"], env, log)


def _stop_proxy(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _drop_database(url: str) -> None:
    """drop_database runs its own event loop; the async tests calling us have one running in this thread."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(drop_database, url).result()


def cluster_env(extra: dict[str, str] | None = None, *, redis_url: str = REDIS_URL,
                database_url: str | None = None) -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        **os.environ,
        "DATABASE_URL": database_url or test_database_url(f"ops_{tag}"),
        "REDIS_URL": redis_url,
        "DUBLE_REDIS_PREFIX": f"dubletest:ops:{tag}:",
        "DUBLE_TTS_ENGINE": "fake",
        "DUBLE_FAKE_TTS_LATENCY_MS": "50",  # 200 ms chunks at 4x real time: a stream lasts long enough to cut
        "DUBLE_TTS_CACHE_ENABLED": "false",
        "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5",
        "DUBLE_SIGNUP_CREDITS": "100",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


@contextmanager
def run_cluster(tmp_dir: Path, extra_env: dict[str, str] | None = None, *, proxy: bool = True,
                redis_url: str = REDIS_URL, database_url: str | None = None) -> Iterator[Cluster]:
    """Two instances (started side by side on a database migrated first), and the proxy."""
    env = cluster_env(extra_env, redis_url=redis_url, database_url=database_url)
    with ExitStack() as stack:
        if database_url is None:
            stack.callback(_drop_database, env["DATABASE_URL"])
        _migrate(env["DATABASE_URL"])
        first, second = (launch_instance(tmp_dir, name, env, stack) for name in ("api1", "api2"))
        wait_ready(first)
        wait_ready(second)
        front = start_proxy(tmp_dir, [first.server.port, second.server.port], stack, env) if proxy else first.server
        yield Cluster([first, second], front, env)
