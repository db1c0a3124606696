"""Email outbox storage: insert-once by key and reads; claims and attempts are `kit.outbox`'s."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
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
