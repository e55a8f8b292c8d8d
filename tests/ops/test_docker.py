"""docker-compose.yml as the compose tool resolves it (``docker compose config`` or Debian's ``docker-compose``), the
Dockerfile's stages and .dockerignore. No container engine runs on the test machines, so nothing is built or started
here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import ROOT


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("no compose tool: scripts/setup.sh installs docker-compose with WITH_DEV=1")


def _config(profile: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("DUBLE_", "POSTGRES_"))}
    run_env.update(env, DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")  # config must need no engine
    out = subprocess.run([*_compose_command(), "-f", str(ROOT / "docker-compose.yml"), "--profile", profile, "config"],
                         capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_compose_config_validates_with_healthchecks_volumes_and_restarts(profile: str, tmp_path: Path) -> None:
    config = _config(profile, tmp_path, DUBLE_HTTP_PORT="18080")
    # Compose v2 leaves out services of other profiles; Debian's docker-compose (v1) lists them with `profiles`.
    services = {n: s for n, s in config["services"].items() if profile in s.get("profiles", [profile])}
    apis = {"cpu": ["api1", "api2"], "gpu": ["api1-gpu", "api2-gpu"]}[profile]
    assert set(services) == {"postgres", "redis", "proxy", *apis}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert len(published) == 1 and "18080" in str(published[0])  # only the proxy, on the chosen host port
    assert "5432" not in str(published) and "6379" not in str(published)
    volumes = {s: [str(v.get("source") if isinstance(v, dict) else v).split(":")[0]
                   for v in services[s].get("volumes", [])] for s in ("postgres", "redis")}
    assert volumes == {"postgres": ["pgdata"], "redis": ["redisdata"]}
    assert {"pgdata", "redisdata"} <= set(config["volumes"])
    proxy_env = services["proxy"]["environment"]
    assert (proxy_env["DUBLE_API1"], proxy_env["DUBLE_API2"]) == ("api1:8000", "api2:8000")
    for api in apis:
        env = services[api]["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:") and "@postgres:5432/" in env["DATABASE_URL"]
        devices = services[api].get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        if profile == "gpu":
            assert devices and devices[0]["capabilities"] == ["gpu"] and env["DUBLE_DEVICE"] == "cuda:0"
        else:
            assert devices is None


def test_image_is_multi_stage_and_never_copies_the_venv() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2
    assert "COPY --from=build /app/.venv" in dockerfile and "COPY . " not in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
