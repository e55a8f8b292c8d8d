"""Slow and half-sent HTTP requests (slowloris) against a real server over raw sockets: each is closed once its
header deadline passes, oversized headers get 431, and ordinary requests are served all the while."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RunningServer, run_server

HEADER_TIMEOUT_S = 2.0
HALF_SENT = 200
# The server's deadline plus room for a loaded machine; far below the 40 s these connections stayed open before.
CLOSE_BOUND_S = HEADER_TIMEOUT_S + 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("http-limits"), {"DUBLE_TTS_ENGINE": "fake",
                                                              "DUBLE_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
                                                              "DUBLE_HTTP_MAX_HEADER_BYTES": "8192"}) as srv:
        yield srv


def _open(server: RunningServer, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    sock.setblocking(False)
    return sock


def _wait_closed(socks: list[socket.socket], deadline: float) -> dict[socket.socket, float]:
    """When each socket was closed by the server (EOF or reset), until ``deadline``."""
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError) as exc:
                    if isinstance(exc, BlockingIOError):
                        continue
                    data = b""
                if not data:
                    closed[sock] = time.monotonic()
                    sel.unregister(sock)
    return closed


def test_half_sent_requests_are_closed_and_others_are_served(server: RunningServer) -> None:
    opened_at = time.monotonic()
    silent = [_open(server, b"") for _ in range(HALF_SENT // 2)]
    partial = [_open(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(HALF_SENT // 2)]
    try:
        # Ordinary traffic goes on while the half-sent connections are open.
        for _ in range(5):
            resp = httpx.get(f"{server.base_url}/healthz", timeout=5)
            assert resp.status_code == 200 and resp.json()["status"] == "ok"
        closed = _wait_closed(silent + partial, opened_at + CLOSE_BOUND_S)
        assert len(closed) == HALF_SENT, f"{HALF_SENT - len(closed)} half-sent connections still open"
        # Closed by the header deadline, not by anything sooner.
        assert min(closed.values()) - opened_at >= HEADER_TIMEOUT_S - 0.5
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    finally:
        for s in silent + partial:
            s.close()


def test_a_trickle_of_header_bytes_does_not_extend_the_deadline(server: RunningServer) -> None:
    sock = _open(server, b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    try:
        closed_after: float | None = None
        while time.monotonic() - started < CLOSE_BOUND_S:
            try:
                sock.send(b"X-A: b\r\n")  # one header line every 0.2 s: always busy, never complete
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            if _wait_closed([sock], time.monotonic() + 0.2):
                closed_after = time.monotonic() - started
                break
        assert closed_after is not None, "a connection trickling headers stayed open"
        assert HEADER_TIMEOUT_S - 0.5 <= closed_after <= CLOSE_BOUND_S
    finally:
        sock.close()


def test_oversized_headers_get_431_and_the_server_stays_up(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert b'"code": "headers_too_large"' in reply
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


def test_a_complete_request_sent_in_pieces_is_served(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_keep_alive_requests_each_get_their_own_deadline(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the second request never finishes its headers
        sock.setblocking(False)
        closed = _wait_closed([sock], time.monotonic() + CLOSE_BOUND_S)
        assert closed, "the unfinished second request kept the connection open"
