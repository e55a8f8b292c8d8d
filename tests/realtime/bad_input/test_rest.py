"""Every REST operation in the server's own OpenAPI document, fed hostile input one field at a time: each answer is a
4xx with the JSON error shape (never a 5xx or a dropped connection), the server stays healthy, and nothing is billed."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import create_account
from tests.realtime.bad_input.openapi_cases import Case, cases, operations
from tests.servers import RunningServer

SIGNUP_CREDITS = 100


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    return client.request(case.method, case.path, params=case.params, headers=case.headers, content=case.content,
                          data=case.data, files=case.files)


def _failure(case: Case, resp: httpx.Response | None, error: str = "") -> str | None:
    if resp is None:
        return f"{case.label}: no answer ({error})"
    if not 400 <= resp.status_code < 500:
        return f"{case.label}: {resp.status_code} {resp.text[:200]!r}"
    try:
        body: Any = resp.json()
    except ValueError:
        return f"{case.label}: {resp.status_code} is not JSON: {resp.text[:200]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(err, dict) and isinstance(err.get("code"), str) and isinstance(err.get("message"), str)):
        return f"{case.label}: {resp.status_code} without the error shape: {resp.text[:200]!r}"
    return None


async def _ledger_rows(database_url: str, account_id: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        ledger = await conn.fetchval("SELECT count(*) FROM ledger_entries WHERE account_id = $1::uuid", account_id)
        usage = await conn.fetchval("SELECT count(*) FROM usage_sessions WHERE account_id = $1::uuid", account_id)
    finally:
        await conn.close()
    return int(ledger), int(usage)


def test_every_operation_answers_hostile_input_with_a_clear_4xx(hostile_server: RunningServer) -> None:
    server = hostile_server
    _, auth = create_account(server)
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as client:
        account = client.get("/v1/account").json()
        ledger_before = asyncio.run(_ledger_rows(server.database_url, account["account_id"]))
        doc = client.get("/openapi.json").json()
        ops = operations(doc)
        assert len(ops) > 20, "the OpenAPI document lists fewer operations than the server has"
        failures: list[str] = []
        tried = 0
        for op in ops:
            for case in cases(doc, op):
                tried += 1
                resp, error = None, ""
                try:
                    resp = _send(client, case)
                except httpx.HTTPError as exc:
                    error = repr(exc)
                if (failure := _failure(case, resp, error)) is not None:
                    failures.append(failure)
            health = client.get("/healthz")
            if health.status_code != 200:
                pytest.fail(f"/healthz {health.status_code} after {op.name}")
        assert not failures, f"{len(failures)} of {tried} hostile requests were not answered clearly:\n" + \
            "\n".join(failures)
        after = client.get("/v1/account").json()
    assert tried > 200
    assert after["credits"] == account["credits"] == SIGNUP_CREDITS
    assert asyncio.run(_ledger_rows(server.database_url, account["account_id"])) == ledger_before
