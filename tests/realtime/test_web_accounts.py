"""Web app accounts over real HTTP and WebSockets: e-mail + password, session cookie, CSRF, API keys, log-in limits."""

from __future__ import annotations

import io
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.helpers import create_account, espeak_wav, upload_voice
from tests.servers import RunningServer, run_server

PASSWORD = "senha-boa-123"


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_RATE_LOGINS_PER_EMAIL": "5", "DUBLE_RATE_LOGINS_PER_IP": "6",
           "DUBLE_RATE_LIMIT_WINDOW_S": "3600", "DUBLE_RATE_UPLOADS_PER_KEY": "2"}
    with run_server(tmp_path_factory.mktemp("web-accounts"), env) as srv:
        yield srv


def _email() -> str:
    return f"w{uuid.uuid4().hex[:10]}@example.com"


def _client(server: RunningServer, ip: str = "127.0.0.1") -> httpx.Client:
    # A loopback source address of its own keeps each test's per-IP log-in budget apart.
    return httpx.Client(base_url=server.base_url, transport=httpx.HTTPTransport(local_address=ip), timeout=30)


def _signup(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/v1/auth/signup", json={"email": email, "password": password})


def test_signup_logout_login_round_trip(web_server: RunningServer) -> None:
    email = _email()
    with _client(web_server, "127.0.0.21") as c:
        made = _signup(c, email)
        assert made.status_code == 201, made.text
        cookie = made.headers["set-cookie"].lower()
        assert "duble_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # the base URL is plain http
        assert c.get("/v1/account").json()["email"] == email
        session = c.get("/v1/auth/session").json()
        assert session["has_password"] is True and session["csrf_token"] == made.json()["csrf_token"]
        assert _signup(c, email.upper()).json()["error"]["code"] == "email_taken"

        csrf = session["csrf_token"]
        assert c.post("/v1/auth/logout").json()["error"]["code"] == "csrf_failed"
        assert c.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert c.get("/v1/account").status_code == 401
        assert c.get("/v1/auth/session").json()["error"]["code"] == "not_logged_in"

        wrong = c.post("/v1/auth/login", json={"email": email, "password": "outra-senha-999"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
        unknown = c.post("/v1/auth/login", json={"email": _email(), "password": PASSWORD})
        assert unknown.json()["error"] == wrong.json()["error"]  # no hint whether the e-mail exists
        back = c.post("/v1/auth/login", json={"email": email.upper(), "password": PASSWORD})
        assert back.status_code == 200, back.text
        assert c.get("/v1/account").json()["email"] == email


def test_the_old_session_cookie_is_dead_after_logout(web_server: RunningServer) -> None:
    with _client(web_server, "127.0.0.22") as c:
        made = _signup(c, _email())
        token = c.cookies["duble_session"]
        c.post("/v1/auth/logout", headers={"X-CSRF-Token": made.json()["csrf_token"]})
    with _client(web_server) as replay:
        replay.cookies.set("duble_session", token)
        assert replay.get("/v1/account").status_code == 401


def test_cookie_changes_need_the_csrf_token_and_keys_are_managed(web_server: RunningServer) -> None:
    with _client(web_server, "127.0.0.23") as c:
        csrf = _signup(c, _email()).json()["csrf_token"]
        refused = c.post("/v1/api-keys", json={"label": "bot"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        tampered = csrf[:-1] + ("y" if csrf.endswith("x") else "x")  # one character off, never the token itself
        forged = c.post("/v1/api-keys", json={"label": "bot"}, headers={"X-CSRF-Token": tampered})
        assert forged.status_code == 403
        assert c.get("/v1/api-keys").json()["api_keys"] == []  # nothing was made by the refused requests

        made = c.post("/v1/api-keys", json={"label": "bot"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        key = made.json()["api_key"]
        bearer = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{web_server.base_url}/v1/account", headers=bearer).status_code == 200
        listed = c.get("/v1/api-keys").json()["api_keys"]
        assert [(k["label"], k["prefix"], k["revoked_at"]) for k in listed] == [("bot", key[:8], None)]
        assert "api_key" not in listed[0]

        assert c.delete(f"/v1/api-keys/{listed[0]['id']}").status_code == 403
        assert c.delete(f"/v1/api-keys/{listed[0]['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert httpx.get(f"{web_server.base_url}/v1/account", headers=bearer).status_code == 401
        assert c.get("/v1/api-keys").json()["api_keys"][0]["revoked_at"] is not None
        again = c.delete(f"/v1/api-keys/{listed[0]['id']}", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 404


def test_another_accounts_key_cannot_be_revoked(web_server: RunningServer) -> None:
    owner_key, owner = create_account(web_server)
    made = httpx.post(f"{web_server.base_url}/v1/api-keys", json={}, headers=owner).json()
    _, other = create_account(web_server)
    resp = httpx.delete(f"{web_server.base_url}/v1/api-keys/{made['id']}", headers=other)
    assert resp.status_code == 404
    assert httpx.get(f"{web_server.base_url}/v1/account",
                     headers={"Authorization": f"Bearer {made['api_key']}"}).status_code == 200
    assert owner_key != made["api_key"]


@pytest.mark.parametrize("body", [
    {"email": "EMAIL", "password": "x" * 1_000_000},
    {"email": "EMAIL", "password": "x" * 300},
    {"email": "a\x00EMAIL", "password": PASSWORD},
    {"email": "EMAIL", "password": "senha\x00forte"},
    {"email": "EMAIL", "password": "senha\nforte!"},
    {"email": "EMAIL", "password": "curta"},
    {"email": "not-an-email", "password": PASSWORD},
    {"email": "EMAIL", "password": PASSWORD, "plan": "pro"},
    {"email": "EMAIL"},
])
def test_hostile_signups_are_422_and_create_nothing(web_server: RunningServer, body: dict[str, str]) -> None:
    email = _email()
    sent = {k: v.replace("EMAIL", email) for k, v in body.items()}
    with _client(web_server, "127.0.0.24") as c:
        resp = c.post("/v1/auth/signup", json=sent)
        # A megabyte never reaches the model (nor argon2): the body limit refuses it first.
        huge = len(resp.request.content) > 64 * 1024
        assert resp.status_code == (413 if huge else 422), resp.text
        assert resp.json()["error"]["code"] == ("body_too_large" if huge else "invalid_request")
        assert "set-cookie" not in resp.headers
        assert _signup(c, email).status_code == 201  # the refused request did not take the e-mail


def test_logins_are_limited_per_email_and_per_ip(web_server: RunningServer) -> None:
    email = _email()
    with _client(web_server, "127.0.0.25") as c:
        assert _signup(c, email).status_code == 201
    codes = []
    for i in range(6):  # five tries per e-mail, from different addresses
        with _client(web_server, f"127.0.1.{i + 1}") as c:
            codes.append(c.post("/v1/auth/login", json={"email": email, "password": "errada-123"}).status_code)
    assert codes == [401] * 5 + [429]
    with _client(web_server, "127.0.1.9") as c:
        right = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
        assert right.json()["error"]["code"] == "rate_limited"
    with _client(web_server, "127.0.2.1") as c:  # six tries per address, over any e-mails
        ip_codes = [c.post("/v1/auth/login", json={"email": _email(), "password": PASSWORD}).status_code
                    for _ in range(7)]
    assert ip_codes == [401] * 6 + [429]


def test_key_only_account_logs_in_with_its_key_and_sets_a_password(web_server: RunningServer) -> None:
    email = _email()
    resp = httpx.post(f"{web_server.base_url}/v1/accounts", json={"email": email})
    key = resp.json()["api_key"]
    with _client(web_server, "127.0.0.26") as c:
        assert c.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
        bad = c.post("/v1/auth/key-login", json={"api_key": "dbl_nope"})
        assert bad.status_code == 401
        session = c.post("/v1/auth/key-login", json={"api_key": key})
        assert session.status_code == 200 and session.json()["has_password"] is False
        csrf = session.json()["csrf_token"]
        assert c.post("/v1/auth/password", json={"password": PASSWORD}).status_code == 403
        assert c.post("/v1/auth/password", json={"password": PASSWORD},
                      headers={"X-CSRF-Token": csrf}).status_code == 204
        # Changing an existing password from a session needs the current one.
        change = c.post("/v1/auth/password", json={"password": "nova-senha-456"}, headers={"X-CSRF-Token": csrf})
        assert change.json()["error"]["code"] == "current_password_required"
        wrong = c.post("/v1/auth/password", json={"password": "nova-senha-456", "current_password": "errada-99"},
                       headers={"X-CSRF-Token": csrf})
        assert wrong.json()["error"]["code"] == "wrong_password"
    with _client(web_server, "127.0.0.27") as c:
        assert c.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    # The key keeps working for programs, and with it a password can be reset without the old one.
    reset = httpx.post(f"{web_server.base_url}/v1/auth/password", json={"password": "nova-senha-456"},
                       headers={"Authorization": f"Bearer {key}"})
    assert reset.status_code == 204
    with _client(web_server, "127.0.0.28") as c:
        assert c.post("/v1/auth/login", json={"email": email, "password": "nova-senha-456"}).status_code == 200


async def test_websocket_takes_the_cookie_only_from_this_servers_pages(web_server: RunningServer) -> None:
    with _client(web_server, "127.0.0.29") as c:
        _signup(c, _email())
        cookie = f"duble_session={c.cookies['duble_session']}"
    url = f"{web_server.ws_url}/v1/tts/stream"
    ours = {"Cookie": cookie, "Origin": web_server.base_url}
    async with websockets.connect(url, additional_headers=ours, open_timeout=10) as ws:
        await ws.send('{"type": "start", "language": "en"}')
        assert '"started"' in str(await ws.recv())
    for headers in ({"Cookie": cookie, "Origin": "http://evil.example"}, {"Cookie": cookie}):
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            assert '"unauthorized"' in str(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_voice_audio_rename_and_payment_history(web_server: RunningServer, tmp_path: Path) -> None:
    _, headers = create_account(web_server)
    wav = espeak_wav(tmp_path / "ref.wav", "Olá pessoal, hoje vamos testar a minha voz com bastante calma.")
    voice = upload_voice(web_server, headers, wav)
    base = f"{web_server.base_url}/v1/voices/{voice['id']}"
    audio = httpx.get(f"{base}/audio", headers=headers)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as w:
        assert w.getnchannels() == 1
        assert abs(w.getnframes() / w.getframerate() - float(str(voice["duration_s"]))) < 0.05
    renamed = httpx.patch(base, json={"name": "  voz da live  "}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "voz da live"
    assert httpx.patch(base, json={"name": "a\x00b"}, headers=headers).status_code == 422
    assert httpx.patch(base, json={"name": "   "}, headers=headers).status_code == 422
    _, other = create_account(web_server)
    assert httpx.get(f"{base}/audio", headers=other).status_code == 404
    assert httpx.patch(base, json={"name": "roubada"}, headers=other).status_code == 404
    assert httpx.get(base, headers=headers).json()["name"] == "voz da live"
    assert httpx.get(f"{web_server.base_url}/v1/payments", headers=headers).json() == {"payments": []}


def test_docs_are_served_offline_with_auth_and_errors_declared(web_server: RunningServer) -> None:
    page = httpx.get(f"{web_server.base_url}/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    asset = httpx.get(f"{web_server.base_url}/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert httpx.get(f"{web_server.base_url}/docs-assets/..%2Fcore.py").status_code == 404
    redoc = httpx.get(f"{web_server.base_url}/redoc").text
    assert "/docs-assets/redoc.standalone.js" in redoc and "fonts.googleapis" not in redoc
    spec = httpx.get(f"{web_server.base_url}/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    get_account = spec["paths"]["/v1/account"]["get"]
    assert get_account["security"] and "401" in get_account["responses"]
    assert "ErrorResponse" in str(get_account["responses"]["401"])
    protocol = httpx.get(f"{web_server.base_url}/docs/protocol")
    assert protocol.status_code == 200 and "<table>" in protocol.text and "/v1/tts/stream" in protocol.text


def test_buying_without_mercado_pago_configured_says_so(web_server: RunningServer) -> None:
    _, headers = create_account(web_server)
    assert httpx.get(f"{web_server.base_url}/v1/plans").json()["payments_enabled"] is False
    resp = httpx.post(f"{web_server.base_url}/v1/payments/checkout", json={"plan": "basic"}, headers=headers)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "payments_not_configured"
    assert httpx.get(f"{web_server.base_url}/v1/payments", headers=headers).json() == {"payments": []}


def test_usage_per_day_is_bounded_and_starts_empty(web_server: RunningServer) -> None:
    _, headers = create_account(web_server)
    body = httpx.get(f"{web_server.base_url}/v1/usage/daily?days=7&utc_offset_min=-180", headers=headers).json()
    assert body["days"] == [] and body["from_day"] < body["to_day"]
    for bad in ("days=0", "days=367", "utc_offset_min=9999", "days=abc"):
        assert httpx.get(f"{web_server.base_url}/v1/usage/daily?{bad}", headers=headers).status_code == 422


def test_uploads_from_the_web_app_count_against_the_account(web_server: RunningServer) -> None:
    with _client(web_server, "127.0.0.30") as c:
        csrf = _signup(c, _email()).json()["csrf_token"]
        codes = [c.post("/v1/voices", headers={"X-CSRF-Token": csrf}, data={"name": "v", "language": "pt-BR"},
                        files={"audio": ("x.wav", b"not audio", "audio/wav")}).status_code for _ in range(3)]
    assert codes == [422, 422, 429]
