"""Request bodies over a route's bound are refused before they are read: a claimed size at once, a chunked body
as soon as it passes the bound; the server's memory does not grow by the body size, and normal uploads still work."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import create_account, espeak_wav, upload_voice
from tests.servers import RunningServer, run_server

UPLOAD_LIMIT = 2 * 1024 * 1024
STREAMED = 256 * 1024 * 1024  # far more than any socket buffer, so the cut-off must come from the server
CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("body-limits"), {"DUBLE_TTS_ENGINE": "fake",
                                                              "DUBLE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
                                                              "DUBLE_RATE_LIMITS_ENABLED": "false"}) as srv:
        yield srv


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing")


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


@pytest.mark.parametrize("path", ["/v1/voices", "/v1/accounts", "/v1/payments/webhook",
                                  "/v1/voices/00000000-0000-0000-0000-000000000000/rvc-model"])
def test_a_claimed_10_gb_body_is_refused_before_it_is_sent(server: RunningServer, path: str) -> None:
    _, headers = create_account(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {headers['Authorization']}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {10 * 1024 ** 3}\r\n\r\n").encode())
        reply = _read_response(sock)  # no body byte is ever sent: only an answer before reading ends this
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b'"code": "body_too_large"' in body or b'"code":"body_too_large"' in body
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_a_chunked_body_past_the_bound_is_cut_off_without_growing_memory(server: RunningServer) -> None:
    _, headers = create_account(server)
    hwm_before_kib = _proc_kib(server.pid, "VmHWM")
    sent = 0
    preamble = b'--b\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'
    chunk = f"{CHUNK:x}\r\n".encode() + b"\0" * CHUNK + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST /v1/voices HTTP/1.1\r\nHost: x\r\nAuthorization: {headers['Authorization']}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
                      f"{len(preamble):x}\r\n").encode() + preamble + b"\r\n")
        try:
            while sent < STREAMED:
                sock.sendall(chunk)
                sent += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_response(sock)
    assert sent < STREAMED, "the server read the whole oversized body"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply[:300]
    grown_kib = _proc_kib(server.pid, "VmHWM") - hwm_before_kib
    assert grown_kib < 32 * 1024, f"peak RSS grew by {grown_kib} KiB for a cut-off body"
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_a_json_body_past_64_kib_gets_413(server: RunningServer) -> None:
    resp = httpx.post(f"{server.base_url}/v1/accounts", json={"email": "a" * (128 * 1024) + "@example.com"})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "body_too_large"


def test_a_streamed_json_body_past_64_kib_gets_413(server: RunningServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"email": "'
        for _ in range(16):
            yield b"a" * 8192
        yield b'@example.com"}'

    resp = httpx.post(f"{server.base_url}/v1/accounts", content=body(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "body_too_large"


def test_too_many_form_parts_are_refused(server: RunningServer) -> None:
    _, headers = create_account(server)
    files = [("audio", (f"a{i}.wav", b"x", "audio/wav")) for i in range(5)]
    resp = httpx.post(f"{server.base_url}/v1/voices", headers=headers, data={"name": "v", "language": "pt-BR"},
                      files=files)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"]


def test_a_normal_upload_still_works(server: RunningServer, tmp_path: Path) -> None:
    _, headers = create_account(server)
    wav = espeak_wav(tmp_path / "v.wav", "Olá, pessoal! Hoje vamos testar a minha voz clonada ao vivo, com calma.")
    assert wav.stat().st_size < UPLOAD_LIMIT
    voice = upload_voice(server, headers, wav)
    assert voice["id"]
