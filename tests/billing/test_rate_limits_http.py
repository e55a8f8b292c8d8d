"""Rate limits on a server of its own with low limits (sign-ups per IP, session starts and uploads per key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import create_account
from tests.realtime.ws_client import connect, next_event, send
from tests.servers import RunningServer, run_server


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "DUBLE_TTS_ENGINE": "fake",
        "DUBLE_RATE_SIGNUPS_PER_IP": "5",
        "DUBLE_RATE_SESSION_STARTS_PER_KEY": "2",
        "DUBLE_RATE_UPLOADS_PER_KEY": "1",
        "DUBLE_RATE_LIMIT_WINDOW_S": "3600",
    }
    with run_server(tmp_path_factory.mktemp("limited"), env) as srv:
        yield srv


def _signup(server: RunningServer, client: httpx.Client) -> httpx.Response:
    return client.post(f"{server.base_url}/v1/accounts", json={"email": f"r{uuid.uuid4().hex[:10]}@example.com"})


def test_signups_are_limited_per_ip(limited_server: RunningServer) -> None:
    # Its own loopback source address, so that the other tests' sign-ups from 127.0.0.1 do not count.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.9")) as client:
        codes = [_signup(limited_server, client).status_code for _ in range(6)]
        assert codes == [201] * 5 + [429]
        refused = _signup(limited_server, client)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.10")) as other_ip:
        assert _signup(limited_server, other_ip).status_code == 201


async def test_session_starts_are_limited_per_key(limited_server: RunningServer) -> None:
    key, _ = create_account(limited_server)
    codes = []
    for _ in range(3):
        async with connect(limited_server, key) as ws:
            await send(ws, type="start", language="en")
            event = await next_event(ws)
            codes.append(event["type"] if event["type"] != "error" else event["code"])
    assert codes == ["started", "started", "rate_limited"]
    other, _ = create_account(limited_server)
    async with connect(limited_server, other) as ws:
        await send(ws, type="start", language="en")
        assert (await next_event(ws))["type"] == "started"


def test_uploads_are_limited_per_key(limited_server: RunningServer) -> None:
    _, headers = create_account(limited_server)

    def upload() -> httpx.Response:
        return httpx.post(f"{limited_server.base_url}/v1/voices", headers=headers,
                          data={"name": "v", "language": "en"}, files={"audio": ("a.wav", b"not audio")})

    assert upload().status_code == 422  # counted, then refused as not audio
    second = upload()
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"


def _signups_with_forwarded_for(server: RunningServer, source: str, forwarded: list[str]) -> list[int]:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return [client.post(f"{server.base_url}/v1/accounts", headers={"X-Forwarded-For": ip},
                            json={"email": f"x{uuid.uuid4().hex[:10]}@example.com"}).status_code for ip in forwarded]


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
        limited_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    many = [f"203.0.113.{i}" for i in range(6)]
    # By default a forged header changes nothing: the limit stays on the real peer address.
    assert _signups_with_forwarded_for(limited_server, "127.0.0.11", many) == [201] * 5 + [429]

    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_RATE_SIGNUPS_PER_IP": "5", "DUBLE_RATE_LIMIT_WINDOW_S": "3600",
           "DUBLE_FORWARDED_ALLOW_IPS": "127.0.0.12"}
    with run_server(tmp_path_factory.mktemp("behind-proxy"), env) as proxied:
        # From the trusted proxy, each forwarded client has its own limit...
        assert _signups_with_forwarded_for(proxied, "127.0.0.12", many) == [201] * 6
        assert _signups_with_forwarded_for(proxied, "127.0.0.12", ["198.51.100.1"] * 6) == [201] * 5 + [429]
        # ...and from anywhere else the header is still ignored.
        assert _signups_with_forwarded_for(proxied, "127.0.0.13", many) == [201] * 5 + [429]
