from __future__ import annotations

import httpx

from realtime.log_redaction import redact
from tests.helpers import create_account
from tests.realtime.ws_client import connect, next_event, send
from tests.servers import RunningServer


def test_redact_patterns() -> None:
    line = '127.0.0.1:5 - "WebSocket /v1/tts/stream?api_key=dbl_abcDEF123_-xyz&x=1" [accepted]'
    assert redact(line) == '127.0.0.1:5 - "WebSocket /v1/tts/stream?api_key=***&x=1" [accepted]'
    assert redact("Bearer dbl_abcdefghijkl") == "Bearer dbl_***"


async def test_server_logs_never_show_api_keys(fake_server: RunningServer) -> None:
    key, headers = create_account(fake_server)
    async with connect(fake_server, key) as ws:
        await send(ws, type="start", language="en")
        assert (await next_event(ws))["type"] == "started"
    async with httpx.AsyncClient() as http:
        await http.get(f"{fake_server.base_url}/v1/account?api_key={key}", headers=headers)
    log = fake_server.log()
    assert "/v1/tts/stream" in log, "the access log should show the request"
    assert key not in log and key[4:] not in log
    assert "Traceback" not in log and "Logging error" not in log
