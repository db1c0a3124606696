"""The job run record: when each job last started, succeeded and failed (read by `/metrics`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.db import transaction
from moderation.kit.time import utc_now
from moderation.models.job_run import JobRun
from moderation.worker.repository import job_runs_repository

log = logging.getLogger("moderation.worker")


class JobRunService:
    """Each write is its own short transaction next to the job's, so a job that rolls back still
    records its failure, and a database hiccup while recording never fails the job itself."""

    def started(self, engine: Engine, name: str, *, worker: str) -> None:
        self._write(engine, name, lambda s: job_runs_repository.started(s, name, worker=worker, at=utc_now()))

    def finished(self, engine: Engine, name: str, *, error: str | None) -> None:
        if error is None:
            self._write(engine, name, lambda s: job_runs_repository.succeeded(s, name, at=utc_now()))
            return
        message = error
        self._write(engine, name, lambda s: job_runs_repository.failed(s, name, at=utc_now(), error=message))

    def list(self, session: Session) -> list[JobRun]:
        """Every job that has run at least once, by name."""
        return job_runs_repository.all(session)

    @staticmethod
    def _write(engine: Engine, name: str, write: Callable[[Session], None]) -> None:
        try:
            with transaction(engine) as session:
                write(session)
        except Exception:
            log.warning("job %s: could not record the run", name, exc_info=True)


job_runs = JobRunService()
