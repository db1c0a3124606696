"""SQL of the `worker` feature: the per-job run record (`job_runs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from moderation.models.job_run import JobRun

MAX_ERROR_LENGTH = 500


class JobRunRepository:
    def _upsert(
        self, session: Session, name: str, values: dict[str, Any], on_conflict: dict[str, Any]
    ) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(JobRun).values({"name": name, "successes": 0, "failures": 0} | values)
        session.execute(statement.on_conflict_do_update(index_elements=[JobRun.name], set_=on_conflict))

    def started(self, session: Session, name: str, *, worker: str, at: datetime) -> None:
        values = {"last_started_at": at, "last_worker": worker}
        self._upsert(session, name, values, values)

    def succeeded(self, session: Session, name: str, *, at: datetime) -> None:
        self._upsert(
            session,
            name,
            {"last_success_at": at, "successes": 1},
            {"last_success_at": at, "successes": JobRun.successes + 1},
        )

    def failed(self, session: Session, name: str, *, at: datetime, error: str) -> None:
        error = error[:MAX_ERROR_LENGTH]
        self._upsert(
            session,
            name,
            {"last_failure_at": at, "last_error": error, "failures": 1},
            {"last_failure_at": at, "last_error": error, "failures": JobRun.failures + 1},
        )

    def all(self, session: Session) -> list[JobRun]:
        return list(session.scalars(select(JobRun).order_by(JobRun.name)))


job_runs_repository = JobRunRepository()
