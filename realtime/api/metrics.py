"""Operational figures: synthesis-cache hit rate and device-worker queue, as JSON (``/v1/stats``) and Prometheus text
(``/metrics``). Nothing here identifies an account, a voice or a text."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from redis.exceptions import RedisError

from realtime.deps import StateDep, bearer_token
from realtime.errors import ApiError
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


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: StateDep) -> str:
    data = await collect(state)
    lines: list[str] = []

    def metric(name: str, kind: str, value: float, help_text: str) -> None:
        lines.extend([f"# HELP duble_{name} {help_text}", f"# TYPE duble_{name} {kind}", f"duble_{name} {value}"])

    wk = data["worker"]
    metric("worker_queue_depth", "gauge", wk["queue_depth"], "jobs waiting for the device worker")
    metric("worker_jobs_submitted_total", "counter", wk["submitted"], "jobs accepted by the device worker")
    metric("worker_jobs_completed_total", "counter", wk["completed"], "jobs finished")
    metric("worker_jobs_failed_total", "counter", wk["failed"], "jobs that raised")
    metric("worker_jobs_rejected_busy_total", "counter", wk["rejected_busy"], "jobs refused because the queue was full")
    metric("worker_queue_wait_ms_mean", "gauge", wk["mean_queue_wait_ms"], "mean time a job waited in the queue")
    metric("worker_batches_total", "counter", wk["batches"], "batched model calls")
    metric("relay_listeners", "gauge", data["relay"]["listeners"], "OBS sources listening on relay channels")
    c = data["tts_cache"]
    if c.get("available"):
        metric("tts_cache_hits_total", "counter", c["hits"], "sentences served from the synthesis cache")
        metric("tts_cache_misses_total", "counter", c["misses"], "sentences synthesized (cache miss)")
        metric("tts_cache_hit_ratio", "gauge", c["hit_rate"], "hits / lookups since the counters began")
        metric("tts_cache_entries", "gauge", c["entries"], "cached sentences")
        metric("tts_cache_bytes", "gauge", c["bytes"], "bytes of cached audio")
    return "\n".join(lines) + "\n"
