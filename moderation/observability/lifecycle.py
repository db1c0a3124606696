"""Wires observability into the app: the request middleware, `/metrics`, and a sampler thread that
copies this process's match index and classifier state into its gauges every few seconds."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from fastapi import FastAPI

from moderation.observability import metrics
from moderation.observability.collector import OperationsCollector
from moderation.observability.endpoints import router
from moderation.observability.middleware import RequestContextMiddleware

log = logging.getLogger("moderation.metrics")

SAMPLE_SECONDS = 5.0


class Sampler:
    """Reads the readiness probes of the match index and the classifier into per-process gauges."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batches = 0
        self._images = 0
        self._lock = threading.Lock()

    def sample(self) -> None:
        probes = self._app.state.readiness
        with self._lock:
            try:
                self._sample_matcher(probes.get("match_index"))
                self._sample_classifier(probes.get("classifier"))
            except Exception:
                log.warning("metrics sampler: a probe failed", exc_info=True)

    def _sample_matcher(self, probe: Any) -> None:
        if probe is None:
            return
        state = probe()
        metrics.MATCH_INDEX_ENTRIES.set(state.get("entries") or 0)
        metrics.MATCH_INDEX_MEMORY_BYTES.set(state.get("memory_bytes") or 0)
        lag = state.get("lag_seconds")
        if lag is not None:
            metrics.MATCH_INDEX_LAG_SECONDS.set(lag)
            metrics.MATCH_INDEX_LAST_REFRESH.set(time.time() - lag)

    def _sample_classifier(self, probe: Any) -> None:
        if probe is None:
            return
        state = probe()
        metrics.CLASSIFIER_QUEUE_DEPTH.set(state.get("queue_depth") or 0)
        batches, images = int(state.get("batches") or 0), int(state.get("batched_images") or 0)
        if batches >= self._batches and images >= self._images:
            metrics.CLASSIFIER_BATCHES.inc(batches - self._batches)
            metrics.CLASSIFIER_BATCH_IMAGES.inc(images - self._images)
        self._batches, self._images = batches, images

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()


def install(app: FastAPI) -> None:
    """Add the middleware and `/metrics`; run the sampler while the app runs."""
    app.add_middleware(RequestContextMiddleware)
    app.include_router(router)
    app.state.metrics_collector = OperationsCollector(app.state.engine)
    sampler = Sampler(app)
    app.state.metrics_sampler = sampler

    async def start(_: FastAPI) -> None:
        sampler.start()

    async def stop(_: FastAPI) -> None:
        sampler.stop()
        metrics.mark_process_dead(os.getpid())

    app.state.on_start.append(start)
    app.state.on_stop.append(stop)
