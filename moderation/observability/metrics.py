"""The Prometheus metric families the service exports, and the helpers that record them.

Counters, histograms and per-process gauges live here. With `PROMETHEUS_MULTIPROC_DIR` set (before
the process starts, as prometheus-client requires), every uvicorn worker and the job worker write
them to files in that folder and `/metrics` adds them up; without it each process reports its own.
Figures read from the database at scrape time (notices, outboxes, jobs) are in `collector.py`.
This module imports prometheus-client and the standard library only, so any layer can record into it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# `_created` series double the output and no dashboard or alert reads them.
disable_created_metrics()

# The pipeline stages as `CheckResult.timings_ms` names them, and the label each one gets here.
CHECK_STAGES: Mapping[str, str] = {
    "read": "read",
    "cache_lookup": "cache_lookup",
    "decode_hash": "decode_hash",
    "match": "match",
    "classifier": "classify",
    "decide": "decide",
    "store": "store",
    "total": "total",
}
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

CHECKS = Counter(
    "moderation_checks",
    "Checks answered, by decision, source and whether the cache answered.",
    ["decision", "source", "cached"],
)
CHECK_STAGE_SECONDS = Histogram(
    "moderation_check_stage_seconds",
    "Time each check pipeline stage took.",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "moderation_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "moderation_http_request_seconds",
    "HTTP request duration by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
JOB_RUNS = Counter(
    "moderation_job_runs", "Job runs by job and outcome (ok, skipped, failed).", ["job", "outcome"]
)
JOB_RUN_SECONDS = Histogram(
    "moderation_job_run_seconds", "Duration of job runs.", ["job"], buckets=_JOB_BUCKETS
)
MATCH_INDEX_ENTRIES = Gauge(
    "moderation_match_index_entries",
    "Bank entries in the in-memory match index (largest process).",
    multiprocess_mode="livemax",
)
MATCH_INDEX_MEMORY_BYTES = Gauge(
    "moderation_match_index_memory_bytes",
    "Memory of the match index codes per process (largest).",
    multiprocess_mode="livemax",
)
MATCH_INDEX_LAG_SECONDS = Gauge(
    "moderation_match_index_lag_seconds",
    "Seconds since the match index last applied the change log (most lagging process).",
    multiprocess_mode="livemax",
)
MATCH_INDEX_LAST_REFRESH = Gauge(
    "moderation_match_index_last_refresh_timestamp_seconds",
    "Unix time of the last match index refresh (oldest process).",
    multiprocess_mode="livemin",
)
CLASSIFIER_QUEUE_DEPTH = Gauge(
    "moderation_classifier_queue_depth",
    "Images waiting for a classifier batch (all processes).",
    multiprocess_mode="livesum",
)
CLASSIFIER_BATCHES = Counter("moderation_classifier_batches", "Classifier batches run.")
CLASSIFIER_BATCH_IMAGES = Counter(
    "moderation_classifier_batch_images",
    "Images classified in batches (divided by batches: mean batch size).",
)


def observe_check(*, decision: str, source: str, cached: bool, timings_ms: Mapping[str, float]) -> None:
    """One answered check: its decision and the time of each stage it went through."""
    CHECKS.labels(decision, source, "true" if cached else "false").inc()
    for name, milliseconds in timings_ms.items():
        stage = CHECK_STAGES.get(name)
        if stage is not None:
            CHECK_STAGE_SECONDS.labels(stage).observe(max(0.0, milliseconds) / 1000)


def observe_request(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)


def observe_job(name: str, outcome: str, seconds: float) -> None:
    JOB_RUNS.labels(name, outcome).inc()
    if outcome != "skipped":
        JOB_RUN_SECONDS.labels(name).observe(seconds)


def multiprocess_dir() -> str | None:
    """The folder prometheus-client shares between processes, when the process started with one."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


def mark_process_dead(pid: int) -> None:
    """Drop a stopped process's live gauges (its counters stay counted)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class _Scrape:
    """What one scrape reads: every process's metrics (or this process's) plus the extra collectors."""

    def __init__(self, extra: tuple[Collector, ...]) -> None:
        if multiprocess_dir():
            shared = CollectorRegistry()
            multiprocess.MultiProcessCollector(shared)
            self._sources: list[CollectorRegistry | Collector] = [shared]
        else:
            self._sources = [REGISTRY]
        self._sources.extend(extra)

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


def render(*extra: Collector) -> tuple[bytes, str]:
    """The exposition text of every process's metrics plus `extra` collectors, and its content type."""
    return generate_latest(_Scrape(extra)), CONTENT_TYPE_LATEST
