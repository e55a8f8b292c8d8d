"""Prometheus instruments of one app (its own ``CollectorRegistry``, so two apps in one process never share counts).

Counters and histograms are fed at the edge (``realtime.session_observer``); figures that already live elsewhere
(worker queue, relay, cache counters in Redis, the ledger in PostgreSQL) are read when ``/metrics`` is scraped.
No label identifies an account, a voice or a text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

SESSION_KINDS = ("tts", "vc", "webrtc", "listen")
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_open = Gauge("duble_sessions_open", "WebSocket sessions open on this instance", ["kind"],
                                   registry=r)
        self.sessions = Counter("duble_sessions", "WebSocket sessions opened", ["kind"], registry=r)
        self.session_errors = Counter("duble_session_errors", "error events sent to clients, by code",
                                      ["kind", "code"], registry=r)
        self.http_responses = Counter("duble_http_responses", "HTTP responses by status class", ["status"],
                                      registry=r)
        self.ttfa = Histogram("duble_tts_time_to_first_audio_seconds",
                              "from a text message (nothing else pending) to the next audio frame sent",
                              buckets=LATENCY_BUCKETS_S, registry=r)
        self.vc_latency = Histogram("duble_vc_block_latency_seconds",
                                    "from an input audio frame to the next converted frame sent",
                                    ["kind"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.scraped = ScrapedFigures()
        r.register(self.scraped)


@dataclass(slots=True)
class Snapshot:
    """Figures read when /metrics is scraped."""

    queue_depth: int = 0
    queue_capacity: int = 0
    queue_wait_s_total: float = 0.0
    worker_jobs: dict[str, int] = field(default_factory=dict)  # outcome -> jobs
    relay_listeners: int = 0
    relay_dropped_writes: int = 0
    draining: bool = False
    cache: tuple[int, int] | None = None  # (hits, misses), all instances
    credits_mc: dict[str, int] = field(default_factory=dict)  # operation -> millicredits charged
    payments: tuple[int, int] | None = None  # (purchases, millicredits bought)
    anomalous_accounts: int | None = None
    quarantined_sessions: int | None = None  # stored sessions the ledger refused, set aside for an operator


class ScrapedFigures(Collector):
    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        s = self.snapshot
        yield GaugeMetricFamily("duble_worker_queue_depth", "jobs waiting for the device worker", s.queue_depth)
        yield GaugeMetricFamily("duble_worker_queue_capacity", "the device worker's queue size", s.queue_capacity)
        yield CounterMetricFamily("duble_worker_queue_wait_seconds", "time jobs waited in the queue, summed",
                                  s.queue_wait_s_total)
        jobs = CounterMetricFamily("duble_worker_jobs", "device-worker jobs by outcome", labels=["outcome"])
        for outcome, n in s.worker_jobs.items():
            jobs.add_metric([outcome], n)
        yield jobs
        yield GaugeMetricFamily("duble_relay_listeners", "OBS listeners connected to this instance",
                                s.relay_listeners)
        yield CounterMetricFamily("duble_relay_dropped_writes", "relay items not written to Redis",
                                  s.relay_dropped_writes)
        yield GaugeMetricFamily("duble_draining", "1 while this instance drains", int(s.draining))
        if s.cache is not None:
            lookups = CounterMetricFamily("duble_tts_cache_lookups", "synthesis-cache lookups, all instances",
                                          labels=["result"])
            lookups.add_metric(["hit"], s.cache[0])
            lookups.add_metric(["miss"], s.cache[1])
            yield lookups
            total = s.cache[0] + s.cache[1]
            yield GaugeMetricFamily("duble_tts_cache_hit_ratio", "hits / lookups since the counters began",
                                    s.cache[0] / total if total else 0.0)
        credits = CounterMetricFamily("duble_credits_metered_millicredits",
                                      "usage charged in the ledger, all instances", labels=["operation"])
        for operation, mc in s.credits_mc.items():
            credits.add_metric([operation], mc)
        yield credits
        if s.payments is not None:
            yield CounterMetricFamily("duble_payments", "credit purchases in the ledger, all instances",
                                      s.payments[0])
            yield CounterMetricFamily("duble_payments_millicredits", "credits bought, all instances", s.payments[1])
        if s.anomalous_accounts is not None:
            yield GaugeMetricFamily("duble_spend_anomalous_accounts",
                                    "accounts whose last hour of usage is far above their usual, all instances",
                                    s.anomalous_accounts)
        if s.quarantined_sessions is not None:
            yield GaugeMetricFamily("duble_billing_quarantined_sessions",
                                    "stored sessions the ledger refused to settle, set aside for an operator",
                                    s.quarantined_sessions)
