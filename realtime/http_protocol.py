"""uvicorn's httptools HTTP/1.1 protocol with the two bounds it lacks: request headers must arrive complete within
``header_timeout_s`` of their first byte (or of the connection, for the first request), and may hold at most
``max_header_bytes``. Past either the connection is closed (431 for oversized headers), before any ASGI code runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_HEADER_BYTES = 64 * 1024

_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
              b"content-length: 88\r\nconnection: close\r\n\r\n"
              b'{"error": {"code": "headers_too_large", "message": "request headers exceed the limit"}}\n')


class BoundedHeadersProtocol(HttpToolsProtocol):
    """Built by uvicorn once per connection (``uvicorn.Config(http=bounded_headers_protocol(...))``)."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._awaiting_headers = True
        self._rejected = False

    def send_400_response(self, msg: str) -> None:
        """A request the parser refuses (a control character in a header, broken framing) gets the JSON error shape."""
        body = json.dumps({"error": {"code": "malformed_request", "message": msg}}).encode()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        # Bytes of a next request on a kept-alive connection: its headers are on the clock from now.
        if self._awaiting_headers and self._header_timer is None:
            self._arm_header_timer()
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._awaiting_headers = True
        self._header_bytes = 0
        if self._header_timer is None:
            self._arm_header_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._within_header_limit(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._within_header_limit(len(name) + len(value)):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        if not self._rejected:
            super().on_headers_complete()

    # The parser finishes the chunk it was fed after a rejection: the rest of that request is ignored.
    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._rejected:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        self._awaiting_headers = True
        super().on_response_complete()

    def _within_header_limit(self, n: int) -> bool:
        if self._rejected:
            return False
        self._header_bytes += n
        if self._header_bytes <= self.max_header_bytes:
            return True
        self._rejected = True
        self._cancel_header_timer()
        self.transport.write(_TOO_LARGE)
        self.transport.close()
        return False

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()


def bounded_headers_protocol(header_timeout_s: float, max_header_bytes: int) -> type[BoundedHeadersProtocol]:
    """The protocol class with these bounds (uvicorn instantiates the class itself, so the bounds live on it)."""
    return type("ConfiguredBoundedHeadersProtocol", (BoundedHeadersProtocol,),
                {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes})
