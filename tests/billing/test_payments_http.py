"""Checkout and webhooks end to end: real server, the official SDK, the local Mercado Pago emulator."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from billing.mp_signature import signature_header
from tests.billing.conftest import WEBHOOK_SECRET
from tests.helpers import create_account
from tests.mp_emulator import MercadoPagoEmulator, send_webhook
from tests.servers import RunningServer

SIGNUP = 1.0  # the billing server grants 1 credit at sign-up


def _pid() -> str:
    return str(random.randrange(10**10, 10**11))


def _account(server: RunningServer) -> dict[str, str]:
    return create_account(server)[1]


def _checkout(server: RunningServer, headers: dict[str, str], plan: str = "basic") -> str:
    resp = httpx.post(f"{server.base_url}/v1/payments/checkout", json={"plan": plan}, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    order_id: str = resp.json()["order_id"]
    return order_id


def _account_view(server: RunningServer, headers: dict[str, str]) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{server.base_url}/v1/account", headers=headers).json()
    return body


def _notify(server: RunningServer, payment_id: str, **kw: object) -> httpx.Response:
    return send_webhook(server.base_url, payment_id, WEBHOOK_SECRET, **kw)  # type: ignore[arg-type]


def test_plans_are_public(billing_server: RunningServer) -> None:
    body = httpx.get(f"{billing_server.base_url}/v1/plans").json()
    assert [(p["name"], p["price_centavos"], p["credits"], p["max_voices"]) for p in body["plans"]] == [
        ("free", 0, 1, 5), ("basic", 2990, 1000, 20), ("pro", 9990, 5000, 100)]
    assert body["plans"][1]["price"] == "R$ 29,90"
    assert body["prices"] == {"tts": {"credits_per_minute": 10}, "conversion": {"credits_per_minute": 5},
                              "tts_rvc": {"credits_per_minute": 15}}


def test_checkout_creates_a_preference_through_the_sdk(billing_server: RunningServer,
                                                        mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    resp = httpx.post(f"{billing_server.base_url}/v1/payments/checkout", json={"plan": "pro"}, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["init_point"].startswith(mp_emulator.base_url)
    pref = mp_emulator.preferences[body["preference_id"]]
    assert pref["external_reference"] == body["order_id"]
    assert pref["notification_url"] == f"{billing_server.base_url}/v1/payments/webhook?source_news=webhooks"
    assert pref["items"] == [{"id": "pro", "title": "Dublê pro: 5000 créditos", "quantity": 1, "currency_id": "BRL",
                              "unit_price": 99.9}]
    sent = [r for r in mp_emulator.requests if r.path == "/checkout/preferences"
            and r.body["external_reference"] == body["order_id"]]
    assert len(sent) == 1
    assert sent[0].headers["x-idempotency-key"] == "pref-" + uuid.UUID(body["order_id"]).hex
    assert sent[0].headers["Authorization"] == f"Bearer {mp_emulator.state.access_token}"


def test_checkout_with_an_idempotency_key_returns_the_same_preference(billing_server: RunningServer) -> None:
    headers = {**_account(billing_server), "Idempotency-Key": "client-retry-1"}
    first = httpx.post(f"{billing_server.base_url}/v1/payments/checkout", json={"plan": "basic"}, headers=headers)
    again = httpx.post(f"{billing_server.base_url}/v1/payments/checkout", json={"plan": "basic"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = httpx.post(f"{billing_server.base_url}/v1/payments/checkout", json={"plan": "pro"}, headers=headers)
    assert other.status_code == 422


def test_checkout_bad_requests(billing_server: RunningServer) -> None:
    headers = _account(billing_server)
    url = f"{billing_server.base_url}/v1/payments/checkout"
    for plan in ("free", "platinum"):
        resp = httpx.post(url, json={"plan": plan}, headers=headers)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "unknown_plan"
    assert httpx.post(url, json={}, headers=headers).status_code == 422
    assert httpx.post(url, json={"plan": "basic"}).status_code == 401


def test_valid_webhook_grants_once_and_replays_change_nothing(billing_server: RunningServer,
                                                              mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 29.9)
    request_id, ts = str(uuid.uuid4()), int(time.time())
    first = _notify(billing_server, pid, request_id=request_id, ts=ts)
    assert first.status_code == 200 and first.json() == {"status": "granted"}
    view = _account_view(billing_server, headers)
    assert (view["credits"], view["plan"]) == (SIGNUP + 1000, "basic")
    for _ in range(3):  # the very same delivery, replayed
        replay = _notify(billing_server, pid, request_id=request_id, ts=ts)
        assert replay.status_code == 200 and replay.json() == {"status": "unchanged"}
    assert _account_view(billing_server, headers)["credits"] == SIGNUP + 1000


def test_forged_missing_and_stale_signatures_grant_nothing(billing_server: RunningServer,
                                                           mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "pro")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, "99.90")
    rid, now = str(uuid.uuid4()), int(time.time())
    attempts = {
        "wrong secret": dict(signature=signature_header("not-the-secret", pid, rid, now), request_id=rid),
        "missing": dict(signature=""),
        "garbage": dict(signature="ts=abc,v1=zz"),
        "other payment's signature": dict(signature=signature_header(WEBHOOK_SECRET, "1", rid, now), request_id=rid),
        "other request id": dict(signature=signature_header(WEBHOOK_SECRET, pid, "x", now), request_id=rid),
    }
    for name, kw in attempts.items():
        resp = _notify(billing_server, pid, **kw)
        assert resp.status_code == 401, name
        assert resp.json()["error"]["code"] == "invalid_signature", name
    stale = _notify(billing_server, pid, ts=now - 3600)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_signature"
    assert _account_view(billing_server, headers)["credits"] == SIGNUP
    assert _notify(billing_server, pid).json() == {"status": "granted"}  # the genuine one still works
    assert _account_view(billing_server, headers)["credits"] == SIGNUP + 5000


def test_concurrent_duplicate_webhooks_grant_exactly_once(billing_server: RunningServer,
                                                          mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 29.9)
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: _notify(billing_server, pid), range(12)))
    assert all(r.status_code == 200 for r in responses)
    outcomes = sorted(r.json()["status"] for r in responses)
    assert outcomes == ["granted"] + ["unchanged"] * 11
    assert _account_view(billing_server, headers)["credits"] == SIGNUP + 1000


def test_pending_then_approved(billing_server: RunningServer, mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "pending", order, 29.9)
    assert _notify(billing_server, pid).json() == {"status": "unchanged"}
    assert _account_view(billing_server, headers)["credits"] == SIGNUP
    mp_emulator.set_payment(pid, "approved", order, 29.9)
    assert _notify(billing_server, pid).json() == {"status": "granted"}
    assert _account_view(billing_server, headers)["credits"] == SIGNUP + 1000


def test_refund_and_chargeback_reverse_the_grant(billing_server: RunningServer,
                                                 mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    basic, pro = _checkout(billing_server, headers, "basic"), _checkout(billing_server, headers, "pro")
    p1, p2 = _pid(), _pid()
    mp_emulator.set_payment(p1, "approved", basic, 29.9)
    mp_emulator.set_payment(p2, "approved", pro, 99.9)
    assert _notify(billing_server, p1).json()["status"] == "granted"
    assert _notify(billing_server, p2).json()["status"] == "granted"
    assert _account_view(billing_server, headers)["plan"] == "pro"
    mp_emulator.set_payment(p2, "charged_back", pro, 99.9)
    assert _notify(billing_server, p2).json()["status"] == "reversed"
    assert _notify(billing_server, p2).json()["status"] == "unchanged"
    view = _account_view(billing_server, headers)
    assert (view["credits"], view["plan"]) == (SIGNUP + 1000, "basic")
    mp_emulator.set_payment(p1, "refunded", basic, 29.9)
    assert _notify(billing_server, p1).json()["status"] == "reversed"
    view = _account_view(billing_server, headers)
    assert (view["credits"], view["plan"]) == (SIGNUP, "free")


def test_partial_refunds_take_back_the_refunded_share_once(billing_server: RunningServer,
                                                           mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 29.9)
    assert _notify(billing_server, pid).json()["status"] == "granted"
    mp_emulator.set_payment(pid, "approved", order, 29.9, refunded=14.95)
    assert _notify(billing_server, pid).json()["status"] == "partially_refunded"
    assert _notify(billing_server, pid).json()["status"] == "unchanged"  # a replay takes nothing more
    view = _account_view(billing_server, headers)
    assert (view["credits"], view["plan"]) == (SIGNUP + 500, "basic")
    mp_emulator.set_payment(pid, "approved", order, 29.9, refunded=22.43)  # 75.02 % refunded in all
    assert _notify(billing_server, pid).json()["status"] == "partially_refunded"
    assert _account_view(billing_server, headers)["credits"] == pytest.approx(SIGNUP + 1000 - 750.168, abs=1e-9)
    # The rest refunded: only what is left is taken back, and the plan no longer stands.
    mp_emulator.set_payment(pid, "refunded", order, 29.9, refunded=29.9)
    assert _notify(billing_server, pid).json()["status"] == "reversed"
    assert _notify(billing_server, pid).json()["status"] == "unchanged"
    view = _account_view(billing_server, headers)
    assert (view["credits"], view["plan"]) == (SIGNUP, "free")


def test_a_partial_refund_seen_with_the_approval(billing_server: RunningServer,
                                                 mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 29.9, refunded=10.0)
    assert _notify(billing_server, pid).json()["status"] == "granted"
    assert _account_view(billing_server, headers)["credits"] == pytest.approx(SIGNUP + 1000 - 334.449, abs=1e-9)


def test_refund_seen_first_blocks_a_late_approval(billing_server: RunningServer,
                                                  mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "refunded", order, 29.9)
    assert _notify(billing_server, pid).json()["status"] == "blocked"
    mp_emulator.set_payment(pid, "approved", order, 29.9)  # an out-of-date read must not grant
    assert _notify(billing_server, pid).json()["status"] == "unchanged"
    assert _account_view(billing_server, headers)["credits"] == SIGNUP


def test_wrong_amount_is_not_granted(billing_server: RunningServer, mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "pro")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 1.0)
    assert _notify(billing_server, pid).json()["status"] == "amount_mismatch"
    assert _account_view(billing_server, headers)["credits"] == SIGNUP


def test_provider_failure_asks_for_a_retry(billing_server: RunningServer, mp_emulator: MercadoPagoEmulator) -> None:
    headers = _account(billing_server)
    order = _checkout(billing_server, headers, "basic")
    pid = _pid()
    mp_emulator.set_payment(pid, "approved", order, 29.9)
    mp_emulator.fail(500)
    failed = _notify(billing_server, pid)
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "payment_provider_error"
    assert _notify(billing_server, pid).json()["status"] == "granted"  # Mercado Pago's retry
    assert _account_view(billing_server, headers)["credits"] == SIGNUP + 1000


def test_unknown_payments_and_other_topics_are_acknowledged(billing_server: RunningServer) -> None:
    assert _notify(billing_server, _pid()).json() == {"status": "unknown_payment"}
    assert _notify(billing_server, _pid(), topic="merchant_order").json() == {"status": "ignored"}
