"""Operational figures as JSON (``/v1/stats``) and Prometheus exposition (``/metrics``, prometheus-client on the app's
own registry: realtime/ops_metrics.py). Nothing here identifies an account, a voice or a text."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from realtime.deps import StateDep, bearer_token
from realtime.errors import ApiError
from realtime.ops_metrics import Snapshot
from realtime.state import AppState


async def ops_access(request: Request, state: StateDep) -> None:
    expected = state.settings.metrics_token.get_secret_value()
    if not expected:
        return
    given = bearer_token(request) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "these figures need 'Authorization: Bearer <DUBLE_METRICS_TOKEN>'",
                       headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(tags=["ops"], dependencies=[Depends(ops_access)])

_DB_TIMEOUT_S = 2.0


async def collect(state: AppState) -> dict[str, Any]:
    w = state.worker.stats
    out: dict[str, Any] = {
        "tts_engine": state.tts_engine.name,
        "worker": {
            "device": state.worker.device, "queue_depth": state.worker.queue_depth, "submitted": w.submitted,
            "completed": w.completed, "failed": w.failed, "rejected_busy": w.rejected_busy,
            "mean_queue_wait_ms": round(w.mean_queue_wait_ms, 3),
            "queue_wait_ms_total": round(w.queue_wait_ms_total, 3), "batches": w.batches,
            "batched_jobs": w.batched_jobs,
        },
        "tts_cache": {"enabled": False},
        "sessions": {"open": state.drain.open_sessions, "draining": state.drain.draining},
        "relay": {"channels": state.broadcast.channel_count, "listeners": state.broadcast.total_listeners},
    }
    try:
        quarantined: int | None = await state.billing.store.quarantined_count()
    except (RedisError, TimeoutError, OSError):
        quarantined = None
    out["billing"] = {"quarantined_sessions": quarantined}
    cache = state.tts_cache
    if cache is not None:
        try:
            s = await cache.stats()
        except (RedisError, TimeoutError, OSError):
            out["tts_cache"] = {"enabled": True, "available": False}
        else:
            out["tts_cache"] = {"enabled": True, "available": True, "hits": s.hits, "misses": s.misses,
                                "hit_rate": round(s.hit_rate, 4), "entries": s.entries, "bytes": s.bytes}
    return out


@router.get("/v1/stats")
async def stats(state: StateDep) -> dict[str, Any]:
    return await collect(state)


# An account is anomalous when its last hour of usage exceeds this many times its mean hour over the previous
# week, and this many millicredits (so a first small session is no anomaly).
SPEND_ANOMALY_RATIO = 5
SPEND_ANOMALY_MIN_MC = 10_000

_SPEND_ANOMALIES = """
WITH u AS (
  SELECT account_id,
         SUM(ABS(amount_millicredits)) FILTER (WHERE created_at > now() - interval '1 hour') AS last_hour,
         SUM(ABS(amount_millicredits)) FILTER (WHERE created_at <= now() - interval '1 hour') / 167.0 AS usual
  FROM ledger_entries WHERE kind = 'usage' AND created_at > now() - interval '7 days' GROUP BY account_id)
SELECT COUNT(*) FROM u WHERE last_hour > $1 AND last_hour > $2 * COALESCE(usual, 0)
"""


@dataclass(frozen=True, slots=True)
class _LedgerFigures:
    credits_mc: dict[str, int]
    payments: tuple[int, int]
    anomalous_accounts: int


async def _ledger_figures(state: AppState) -> _LedgerFigures | None:
    try:
        async with asyncio.timeout(_DB_TIMEOUT_S):
            rows = await state.pool.fetch(
                "SELECT operation, COALESCE(SUM(charged_millicredits), 0) AS mc FROM usage_sessions GROUP BY 1")
            bought = await state.pool.fetchrow(
                "SELECT COUNT(*) AS n, COALESCE(SUM(amount_millicredits), 0) AS mc FROM ledger_entries "
                "WHERE kind = 'purchase'")
            anomalous = await state.pool.fetchval(_SPEND_ANOMALIES, SPEND_ANOMALY_MIN_MC, SPEND_ANOMALY_RATIO)
    except (asyncpg.PostgresError, OSError, TimeoutError):
        return None
    assert bought is not None
    return _LedgerFigures({r["operation"]: int(r["mc"]) for r in rows}, (int(bought["n"]), int(bought["mc"])),
                          int(anomalous))


@router.get("/metrics")
async def metrics(state: StateDep) -> Response:
    data = await collect(state)
    wk = data["worker"]
    cache = data["tts_cache"]
    ledger = await _ledger_figures(state)
    snapshot = Snapshot(
        queue_depth=wk["queue_depth"], queue_capacity=state.settings.worker_queue_size,
        queue_wait_s_total=wk["queue_wait_ms_total"] / 1000,
        worker_jobs={"completed": wk["completed"], "failed": wk["failed"], "rejected_busy": wk["rejected_busy"]},
        relay_listeners=data["relay"]["listeners"], relay_dropped_writes=state.broadcast.dropped_writes,
        draining=state.drain.draining,
        cache=(cache["hits"], cache["misses"]) if cache.get("available") else None,
        credits_mc=ledger.credits_mc if ledger else {}, payments=ledger.payments if ledger else None,
        anomalous_accounts=ledger.anomalous_accounts if ledger else None,
        quarantined_sessions=data["billing"]["quarantined_sessions"],
    )
    # No await between these two: no other scrape can swap the snapshot while it is rendered.
    state.metrics.scraped.snapshot = snapshot
    body = generate_latest(state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
