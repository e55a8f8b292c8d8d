from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from realtime.log_redaction import redact
from tests.helpers import create_account
from tests.realtime.ws_client import connect, next_event, send
from tests.servers import RunningServer, run_server


def test_redact_patterns() -> None:
    line = '127.0.0.1:5 - "WebSocket /v1/tts/stream?api_key=dbl_abcDEF123_-xyz&x=1" [accepted]'
    assert redact(line) == '127.0.0.1:5 - "WebSocket /v1/tts/stream?api_key=***&x=1" [accepted]'
    assert redact("Bearer dbl_abcdefghijkl") == "Bearer dbl_***"


async def _use_the_key_everywhere(server: RunningServer, key: str, headers: dict[str, str]) -> None:
    async with connect(server, key) as ws:
        await send(ws, type="start", language="en")
        assert (await next_event(ws))["type"] == "started"
    async with httpx.AsyncClient() as http:
        await http.get(f"{server.base_url}/v1/account?api_key={key}", headers=headers)


def test_server_logs_never_show_api_keys(tmp_path: Path) -> None:
    # Its own server at info level: the log it reads is only what this test caused, complete once the server exited.
    with run_server(tmp_path, {"DUBLE_TTS_ENGINE": "fake"}, args=["--log-level", "info"]) as server:
        key, headers = create_account(server)
        asyncio.run(_use_the_key_everywhere(server, key, headers))
    log = server.log()
    assert "/v1/tts/stream" in log, "the access log should show the request"
    assert key not in log and key[4:] not in log
    assert "Traceback" not in log and "Logging error" not in log
