"""/metrics in Prometheus exposition (parsed by prometheus-client's own parser) and JSON log lines, on a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.streams import new_account
from tests.realtime.ws_client import collect, connect, next_event, send
from tests.servers import ROOT, RunningServer, run_server

TOKEN = "scraper-secret-abcdef0123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_METRICS_TOKEN": TOKEN, "DUBLE_BILLING_SETTLE_INTERVAL_S": "0.5",
           "DUBLE_LOG_FORMAT": "json"}
    with run_server(tmp_path_factory.mktemp("metrics"), env, args=["--log-level", "info"]) as srv:
        yield srv


async def _samples(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


async def test_a_stream_shows_in_sessions_latency_credits_and_errors(server: RunningServer) -> None:
    key, _ = new_account(server)
    async with connect(server, key) as ws:
        await send(ws, type="start", language="en", tag="x" * 65)  # refused: invalid_message
        assert (await next_event(ws))["code"] == "invalid_message"
        await send(ws, type="start", language="en")
        assert (await next_event(ws))["type"] == "started"
        await send(ws, type="text", text="Two short sentences. To be measured.")
        await send(ws, type="end")
        got = await collect(ws)
    assert got.close_code == 1000
    for _ in range(100):  # the session settles to the ledger just after its socket closes
        samples = await _samples(server)
        if samples.get(("duble_credits_metered_millicredits_total", (("operation", "tts"),)), 0) > 0:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("credits metered never showed the stream")
    assert samples[("duble_sessions_total", (("kind", "tts"),))] >= 1
    assert samples[("duble_sessions_open", (("kind", "tts"),))] == 0
    assert samples[("duble_session_errors_total", (("code", "invalid_message"), ("kind", "tts")))] >= 1
    assert samples[("duble_tts_time_to_first_audio_seconds_count", ())] >= 1
    assert samples[("duble_worker_queue_capacity", ())] == 64
    assert ("duble_worker_queue_depth", ()) in samples and ("duble_relay_listeners", ()) in samples
    assert ("duble_payments_total", ()) in samples
    assert samples[("duble_spend_anomalous_accounts", ())] == 0  # a few seconds of usage is nobody's anomaly
    assert ("duble_tts_cache_hit_ratio", ()) in samples


async def test_logs_are_json_lines_with_request_and_session_ids_and_no_key(server: RunningServer) -> None:
    key, _ = new_account(server)
    async with connect(server, key) as ws:
        await send(ws, type="start", language="en")
        started = await next_event(ws)
        await send(ws, type="text", text="Logged without its text.")
        await send(ws, type="end")
        await collect(ws)
    for _ in range(100):
        lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]  # every line is JSON
        ended = [r for r in lines if r.get("session_id") == started["session_id"]]
        if ended:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("no log line carries the session id")
    assert ended[-1]["message"] == "session ended" and ended[-1]["kind"] == "tts" and ended[-1]["request_id"]
    accepted = [r for r in lines if "WebSocket /v1/tts/stream" in r.get("message", "")]
    assert accepted and all(r["request_id"] for r in accepted)
    http = [r for r in lines if r.get("event") == "access" and r["path"] == "/v1/accounts"]
    assert http and all(r["status"] == 201 and r["request_id"] for r in http)
    text = server.log()
    assert key not in text and key[4:] not in text and "Logged without its text" not in text


def test_the_alert_rules_are_valid_prometheus_rules() -> None:
    rules = yaml.safe_load(Path(ROOT / "deploy" / "prometheus-rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"DubleFailureRateHigh", "DubleCacheHitRatioLow", "DubleSpendAnomaly", "DubleQueueSaturated"} <= set(alerts)
    for rule in alerts.values():
        assert rule["expr"].strip() and rule["labels"]["severity"] and rule["annotations"]["summary"]
