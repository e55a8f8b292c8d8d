"""A small local Mercado Pago for tests: the endpoints the ``mercadopago`` SDK calls, over real HTTP.

Serves ``POST /checkout/preferences`` (honouring ``x-idempotency-key``) and ``GET /v1/payments/{id}``; tests
set payments' states directly (``set_payment``) and deliver signed notifications with ``send_webhook``.
Point the server at it with ``DUBLE_MERCADOPAGO_BASE_URL``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from billing.mp_signature import signature_header


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class EmulatorState:
    access_token: str
    base_url: str = ""
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MercadoPagoEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def preferences(self) -> dict[str, dict[str, Any]]:
        with self.state.lock:
            return dict(self.state.preferences)

    def set_payment(self, payment_id: str, status: str, external_reference: str, amount: float | str,
                    currency: str = "BRL", refunded: float = 0.0) -> None:
        detail = status
        if status == "approved":
            detail = "partially_refunded" if refunded else "accredited"
        with self.state.lock:
            self.state.payments[payment_id] = {
                "id": int(payment_id) if payment_id.isdigit() else payment_id, "status": status,
                "status_detail": detail, "transaction_amount_refunded": refunded,
                "external_reference": external_reference, "transaction_amount": amount, "currency_id": currency,
                "payment_method_id": "pix", "date_last_updated": time.strftime("%Y-%m-%dT%H:%M:%S.000-03:00"),
            }

    def fail(self, *statuses: int) -> None:
        """The next requests answer these HTTP statuses instead (one each, in order)."""
        with self.state.lock:
            self.state.fail_next.extend(statuses)


def _handler(state: EmulatorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def _reply(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _begin(self) -> Any | None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with state.lock:
                state.requests.append(RecordedRequest(self.command, self.path, dict(self.headers.items()), body))
                failure = state.fail_next.pop(0) if state.fail_next else None
            if failure is not None:
                self._reply(failure, {"message": "emulated failure", "status": failure})
                return None
            if self.headers.get("Authorization") != f"Bearer {state.access_token}":
                self._reply(401, {"message": "invalid access token", "error": "unauthorized", "status": 401})
                return None
            return body if body is not None else {}

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = self._begin()
            if body is None:
                return
            if self.path.split("?")[0] != "/checkout/preferences":
                self._reply(404, {"message": "not found", "status": 404})
                return
            key = self.headers.get("x-idempotency-key") or uuid.uuid4().hex
            with state.lock:
                existing = state.by_idempotency_key.get(key)
                if existing is None:
                    pref_id = f"123456-{uuid.uuid4()}"
                    state.preferences[pref_id] = {
                        **body, "id": pref_id,
                        "init_point": f"{state.base_url}/checkout/v1/redirect?pref_id={pref_id}",
                        "sandbox_init_point": f"{state.base_url}/checkout/v1/redirect?pref_id={pref_id}&sandbox=1",
                    }
                    state.by_idempotency_key[key] = pref_id
                    existing = pref_id
                pref = state.preferences[existing]
            self._reply(201, pref)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self._begin() is None:
                return
            path = self.path.split("?")[0]
            if not path.startswith("/v1/payments/"):
                self._reply(404, {"message": "not found", "status": 404})
                return
            with state.lock:
                payment = state.payments.get(path.rsplit("/", 1)[1])
            if payment is None:
                self._reply(404, {"message": "Payment not found", "error": "not_found", "status": 404})
            else:
                self._reply(200, payment)

    return Handler


@contextmanager
def run_emulator(access_token: str = "TEST-emulator-token") -> Iterator[MercadoPagoEmulator]:
    state = EmulatorState(access_token)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="mp-emulator", daemon=True)
    thread.start()
    try:
        yield MercadoPagoEmulator(state)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def send_webhook(server_url: str, payment_id: str, secret: str, *, ts: int | None = None,
                 request_id: str | None = None, signature: str | None = None, topic: str = "payment",
                 timeout_s: float = 30.0) -> httpx.Response:
    """Deliver a notification the way Mercado Pago does (query data.id + type, JSON body, x-signature)."""
    request_id = request_id or str(uuid.uuid4())
    ts = int(time.time()) if ts is None else ts
    headers = {"x-request-id": request_id, "content-type": "application/json"}
    sig = signature if signature is not None else signature_header(secret, payment_id, request_id, ts)
    if sig:
        headers["x-signature"] = sig
    body = {"action": f"{topic}.updated", "api_version": "v1", "type": topic, "data": {"id": payment_id},
            "date_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "live_mode": False,
            "id": int(time.time() * 1000), "user_id": "123456"}
    return httpx.post(f"{server_url}/v1/payments/webhook", params={"data.id": payment_id, "type": topic},
                      headers=headers, json=body, timeout=timeout_s)
