"""Outbox storage: insert-once by key, due messages, conditional claims and attempt records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage


class OutboxRepository:
    def insert_if_absent(self, session: Session, values: dict[str, Any]) -> int | None:
        """Insert a message unless its key exists; the new id, or None when the key was taken.
        ON CONFLICT DO NOTHING keeps the caller's transaction usable when another writer won."""
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(EmailMessage)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(EmailMessage.id)
        )
        return session.execute(statement).scalar()

    def by_key(self, session: Session, key: str) -> EmailMessage | None:
        return session.scalars(select(EmailMessage).where(EmailMessage.key == key)).first()

    def get(self, session: Session, message_id: int) -> EmailMessage | None:
        return session.get(EmailMessage, message_id)

    def due_ids(self, session: Session, now: datetime, limit: int) -> list[int]:
        """Pending messages whose retry time has come, and claimed ones whose lease ran out."""
        query = (
            select(EmailMessage.id)
            .where(
                or_(
                    and_(EmailMessage.state == "pending", EmailMessage.next_attempt_at <= now),
                    and_(EmailMessage.state == "sending", EmailMessage.lease_expires_at <= now),
                )
            )
            .order_by(EmailMessage.next_attempt_at, EmailMessage.id)
            .limit(limit)
        )
        return list(session.scalars(query).all())

    def claim(
        self, session: Session, message_id: int, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim a due message for `worker`; False when another worker got it first (0 rows)."""
        result = session.execute(
            update(EmailMessage)
            .where(
                EmailMessage.id == message_id,
                or_(
                    and_(EmailMessage.state == "pending", EmailMessage.next_attempt_at <= now),
                    and_(EmailMessage.state == "sending", EmailMessage.lease_expires_at <= now),
                ),
            )
            .values(
                state="sending",
                claimed_by=worker,
                lease_expires_at=lease_until,
                attempts=EmailMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def abandon_open_attempts(self, session: Session, message_id: int, now: datetime, reason: str) -> int:
        """Close attempts left in flight by a worker whose lease ran out."""
        result = session.execute(
            update(EmailAttempt)
            .where(EmailAttempt.message_id == message_id, EmailAttempt.outcome.is_(None))
            .values(outcome="abandoned", finished_at=now, error=reason)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def add_attempt(self, session: Session, attempt: EmailAttempt) -> EmailAttempt:
        session.add(attempt)
        session.flush()
        return attempt

    def finish_attempt(
        self, session: Session, attempt_id: int, outcome: str, now: datetime, error: str | None
    ) -> None:
        session.execute(
            update(EmailAttempt)
            .where(EmailAttempt.id == attempt_id)
            .values(outcome=outcome, finished_at=now, error=error)
            .execution_options(synchronize_session=False)
        )

    def mark_sent(self, session: Session, message_id: int, now: datetime) -> bool:
        """Sent is a fact once the server accepted it, whoever holds the claim now."""
        result = session.execute(
            update(EmailMessage)
            .where(EmailMessage.id == message_id, EmailMessage.state != "sent")
            .values(state="sent", sent_at=now, lease_expires_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def release_for_retry(
        self, session: Session, message_id: int, worker: str, retry_at: datetime, error: str
    ) -> bool:
        """Back to pending after a failure, only while this worker still holds the claim."""
        result = session.execute(
            update(EmailMessage)
            .where(
                EmailMessage.id == message_id,
                EmailMessage.state == "sending",
                EmailMessage.claimed_by == worker,
            )
            .values(state="pending", next_attempt_at=retry_at, lease_expires_at=None, last_error=error)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def attempts_of(self, session: Session, message_id: int) -> list[EmailAttempt]:
        return list(
            session.scalars(
                select(EmailAttempt)
                .where(EmailAttempt.message_id == message_id)
                .order_by(EmailAttempt.number)
            ).all()
        )

    def list(self, session: Session, *, state: str | None = None, limit: int = 100) -> list[EmailMessage]:
        query = select(EmailMessage).order_by(EmailMessage.id.desc()).limit(limit)
        if state:
            query = query.where(EmailMessage.state == state)
        return list(session.scalars(query).all())


outbox_repository = OutboxRepository()
