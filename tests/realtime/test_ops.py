"""/v1/stats and /metrics behind DUBLE_METRICS_TOKEN, with the relay's listener count."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import create_account
from tests.realtime.ws_client import connect, next_event
from tests.servers import RunningServer, run_server

TOKEN = "scraper-secret-0123456789"


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_METRICS_TOKEN": TOKEN}
    with run_server(tmp_path_factory.mktemp("ops"), env) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/v1/stats", "/metrics"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Bearer " + TOKEN[:-1]])
def test_figures_need_the_metrics_token(ops_server: RunningServer, path: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    resp = httpx.get(ops_server.base_url + path, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"


async def test_figures_count_relay_listeners(ops_server: RunningServer) -> None:
    key, _ = create_account(ops_server)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=ops_server.base_url, headers=auth) as http:
        assert (await http.get("/v1/stats")).json()["relay"] == {"channels": 0, "listeners": 0}
        async with connect(ops_server, key, "/v1/tts/listen?channel=a") as one, \
                connect(ops_server, key, "/v1/tts/listen?channel=a") as two, \
                connect(ops_server, key, "/v1/tts/listen?channel=b") as three:
            for ws in (one, two, three):
                assert (await next_event(ws))["type"] == "listening"
            assert (await http.get("/v1/stats")).json()["relay"] == {"channels": 2, "listeners": 3}
            metrics = (await http.get("/metrics")).text
            assert "duble_relay_listeners 3.0" in metrics.splitlines()
