"""A WebSocket client on a bare socket, for clients that read as little as they like (1 byte at a time, or nothing):
no library buffers frames behind the test's back, so what it read is exactly what it took from the socket."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

import numpy as np

from tests.servers import RunningServer


class RawWebSocket:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self.bytes_read = 0

    @classmethod
    async def open(cls, server: RunningServer, path: str) -> RawWebSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await loop.sock_sendall(sock, request.encode())
        ws = cls(sock)
        head = await ws._read_until(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            sock.close()
            raise ConnectionError(head.decode(errors="replace"))
        return ws

    async def send_json(self, **message: Any) -> None:
        await self._send(0x1, json.dumps(message).encode())

    async def send_binary(self, payload: bytes) -> None:
        await self._send(0x2, payload)

    async def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n >= 1 << 16:
            raise ValueError("frames of 64 KiB or more are not needed here")
        header = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        masked = (np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n)).tobytes()
        await asyncio.get_running_loop().sock_sendall(self._sock, header + mask + masked)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes off the socket (b"" once the server closed it)."""
        if self._buffer:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
            return out
        data = await asyncio.get_running_loop().sock_recv(self._sock, n)
        self.bytes_read += len(data)
        return data

    async def _read_exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = await self.read(n - len(out))
            if not chunk:
                raise ConnectionError("closed inside a frame")
            out += chunk
        return out

    async def _read_until(self, marker: bytes) -> bytes:
        out = b""
        while marker not in out:
            chunk = await self.read(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            out += chunk
        head, _, rest = out.partition(marker)
        self._buffer = rest + self._buffer
        return head

    async def frame(self) -> tuple[int, bytes]:
        """The next frame: (opcode, payload). Servers do not mask, and send no fragments here."""
        b0, b1 = await self._read_exactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", await self._read_exactly(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", await self._read_exactly(8))[0]
        return b0 & 0x0F, await self._read_exactly(n)

    async def next_event(self) -> dict[str, Any]:
        while True:
            opcode, payload = await self.frame()
            if opcode == 1:
                event: dict[str, Any] = json.loads(payload)
                return event

    def close(self) -> None:
        self._sock.close()
