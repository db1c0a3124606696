"""Running jobs: once (`moderation worker --once`), forever on a schedule, or inside the web process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from moderation.alerts import tasks as alerts_tasks
from moderation.audit import tasks as audit_tasks
from moderation.checks import tasks as checks_tasks
from moderation.config import Settings
from moderation.email import tasks as email_tasks
from moderation.exchanges import tasks as exchanges_tasks
from moderation.jobs import Job, JobContext, JobResult, registered
from moderation.kit.request_context import bound_request_id
from moderation.matching import tasks as matching_tasks
from moderation.observability import metrics
from moderation.redress import tasks as redress_tasks
from moderation.reporting import tasks as reporting_tasks
from moderation.statements import tasks as statements_tasks
from moderation.takedown import tasks as takedown_tasks
from moderation.worker.locks import job_lock
from moderation.worker.service import job_runs

log = logging.getLogger("moderation.worker")

# Feature task modules, in the order `--once` runs their jobs: actions first, then the scans that
# enqueue emails, then the delivery that sends what the scans enqueued in the same run.
TASK_MODULES = (
    redress_tasks,
    takedown_tasks,
    alerts_tasks,
    email_tasks,
    checks_tasks,
    matching_tasks,
    exchanges_tasks,
    statements_tasks,
    reporting_tasks,
    audit_tasks,
)


def load_jobs() -> list[Job]:
    """Every feature's jobs (registered when its `tasks.py` was imported above), in run order."""
    order = {module.__name__: index for index, module in enumerate(TASK_MODULES)}
    return sorted(
        registered(), key=lambda j: order.get(f"moderation.{j.name.split('.')[0]}.tasks", len(order))
    )


def new_worker_id() -> str:
    """Who claims rows: host, process and a random suffix (two workers in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class JobOutcome:
    """How one run of a job ended: ok, skipped (another worker holds its lock) or failed."""

    name: str
    status: str
    result: JobResult = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        summary = " ".join(f"{k}={v}" for k, v in self.result.items())
        if self.status == "failed":
            return f"{self.name}: FAILED ({self.error})"
        return f"{self.name}: {self.status}{' ' + summary if summary else ''} ({self.seconds:.2f}s)"


def run_job(job: Job, engine: Engine, settings: Settings, worker_id: str) -> JobOutcome:
    """One run of `job` under its lock. Errors are logged and reported, never raised: one failing
    job must not stop the others (its transaction has rolled back, so the next run starts clean).
    The run logs (and audits) under a request id of its own, `job:<name>:<random>`."""
    with bound_request_id(f"job:{job.name}:{uuid.uuid4().hex[:12]}"):
        outcome = _run_locked(job, engine, settings, worker_id)
    metrics.observe_job(job.name, outcome.status, outcome.seconds)
    return outcome


def _run_locked(job: Job, engine: Engine, settings: Settings, worker_id: str) -> JobOutcome:
    started = time.monotonic()
    with job_lock(engine, job.name) as taken:
        if not taken:
            log.info("job %s: skipped, another worker holds its lock", job.name)
            return JobOutcome(job.name, "skipped")
        job_runs.started(engine, job.name, worker=worker_id)
        context = JobContext(name=job.name, engine=engine, settings=settings, worker_id=worker_id)
        try:
            result = job.run(context) or {}
        except Exception as exc:
            log.exception("job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}"
            job_runs.finished(engine, job.name, error=error)
            return JobOutcome(job.name, "failed", error=error, seconds=time.monotonic() - started)
        job_runs.finished(engine, job.name, error=None)
    outcome = JobOutcome(job.name, "ok", result, seconds=time.monotonic() - started)
    log.info("job %s", outcome.describe())
    return outcome


def run_once(
    engine: Engine, settings: Settings, names: list[str] | None = None, worker_id: str | None = None
) -> list[JobOutcome]:
    """Run every registered job (or those named) one time, in order, and return how each ended."""
    jobs = load_jobs()
    if names:
        unknown = sorted(set(names) - {j.name for j in jobs})
        if unknown:
            raise KeyError(", ".join(unknown))
        jobs = [j for j in jobs if j.name in names]
    worker_id = worker_id or new_worker_id()
    return [run_job(j, engine, settings, worker_id) for j in jobs]


class Scheduler:
    """Every job on its interval in background threads (APScheduler), first run at start.

    `start()` returns at once; `stop()` waits for runs in progress to finish. A job never overlaps
    itself in one process (max_instances=1) and takes its lock against other processes."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.worker_id = new_worker_id()
        self._scheduler: BackgroundScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        for job in load_jobs():
            scheduler.add_job(
                run_job,
                IntervalTrigger(seconds=job.interval(self.settings), timezone=UTC),
                args=(job, self.engine, self.settings, self.worker_id),
                id=job.name,
                name=job.name,
                next_run_time=datetime.now(UTC),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("worker %s started: %s", self.worker_id, ", ".join(j.name for j in registered()))

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
            log.info("worker %s stopped", self.worker_id)
        self._scheduler = None

    def state(self) -> dict[str, object]:
        """Readiness detail: running or not, and the next run of each job."""
        if not self.running or self._scheduler is None:
            return {"state": "stopped"}
        jobs = {
            j.id: j.next_run_time.astimezone(UTC).isoformat() if j.next_run_time else None
            for j in self._scheduler.get_jobs()
        }
        return {"state": "ready", "worker_id": self.worker_id, "next_runs": jobs}


def run_forever(engine: Engine, settings: Settings) -> None:
    """Run the scheduler until SIGTERM or SIGINT; runs in progress finish before the process exits."""
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the jobs in progress", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    scheduler = Scheduler(engine, settings)
    scheduler.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.stop()
