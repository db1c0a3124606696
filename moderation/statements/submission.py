"""The submission outbox of statements: claim due rows, record what the Transparency Database said.

Lifecycle of a row: *pending* when its statement is stored; `claim` moves it to *sending* with a
lease (conditional UPDATE, committed before any HTTP call); the outcome moves it to *submitted*,
*rejected* (the API's reasons kept for an operator) or back to *pending* with a backoff. A row whose
worker died stays *sending* until its lease runs out; the next claim sees `attempts > 1` and the job
asks the database for its puid before sending anything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.statements.repository import statements_repository as repo


@dataclass(frozen=True)
class Claimed:
    """A claimed submission, detached from the session."""

    statement_id: int
    puid: str
    payload: dict[str, Any]
    attempt: int

    @property
    def after_crash(self) -> bool:
        return self.attempt > 1


def backoff(attempts: int, settings: Settings) -> timedelta:
    """Exponential: base, 2x base, 4x base ... capped at the maximum."""
    seconds = settings.transparency_retry_base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.transparency_retry_max_seconds))


class SubmissionOutbox:
    def due(self, session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
        return repo.due_submissions(session, now, limit)

    def claim(
        self,
        session: Session,
        statement_id: int,
        *,
        seen_attempts: int,
        worker: str,
        now: datetime,
        settings: Settings,
    ) -> Claimed | None:
        """Take one row for this worker; None when another worker has it."""
        lease_until = now + timedelta(seconds=settings.transparency_lease_seconds)
        if not repo.claim(
            session, statement_id, attempts=seen_attempts, now=now, lease_until=lease_until, worker=worker
        ):
            return None
        statement = repo.get(session, statement_id)
        assert statement is not None
        return Claimed(statement_id, statement.puid, dict(statement.payload), seen_attempts + 1)

    def submitted(
        self,
        session: Session,
        row: Claimed,
        *,
        worker: str,
        now: datetime,
        uuid: str | None = None,
        permalink: str | None = None,
        note: str | None = None,
    ) -> bool:
        return repo.settle(
            session,
            row.statement_id,
            worker=worker,
            values={
                "state": "submitted",
                "submitted_at": now,
                "database_uuid": uuid,
                "permalink": permalink,
                "lease_until": None,
                "last_error": note,
            },
        )

    def rejected(
        self, session: Session, row: Claimed, *, worker: str, errors: dict[str, list[str]], actor: str
    ) -> bool:
        """Keep the API's reasons; the statement is never sent again until an operator acts."""
        settled = repo.settle(
            session,
            row.statement_id,
            worker=worker,
            values={
                "state": "rejected",
                "rejection": errors,
                "lease_until": None,
                "last_error": "rejected (422)",
            },
        )
        if settled:
            audit.record(
                session,
                actor=actor,
                action="statement.rejected",
                subject_type="statement",
                subject_id=row.statement_id,
                details={"puid": row.puid, "errors": errors},
            )
        return settled

    def retry(
        self, session: Session, row: Claimed, *, worker: str, now: datetime, error: str, settings: Settings
    ) -> bool:
        return repo.settle(
            session,
            row.statement_id,
            worker=worker,
            values={
                "state": "pending",
                "next_attempt_at": now + backoff(row.attempt, settings),
                "lease_until": None,
                "last_error": error[:1000],
            },
        )

    def counts(self, session: Session) -> dict[str, int]:
        return repo.submission_counts(session)


submission_outbox = SubmissionOutbox()
