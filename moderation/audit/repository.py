"""Audit storage: insert and select only. There is deliberately no update or delete here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from moderation.kit.time import ensure_utc
from moderation.models.audit_event import AuditEvent

# Key of the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 0x4155444954  # "AUDIT"


class AuditRepository:
    def lock_chain(self, session: Session) -> None:
        """Serialise appends until the transaction ends (PostgreSQL). SQLite's BEGIN IMMEDIATE
        already admits a single writer, so nothing is needed there."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})

    def last(self, session: Session) -> AuditEvent | None:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()

    def insert(self, session: Session, event: AuditEvent) -> AuditEvent:
        session.add(event)
        session.flush()
        return event

    def iter_all(self, session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
        last_id = 0
        while True:
            rows = session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last_id = rows[-1].id
            session.expunge_all()

    def page(
        self,
        session: Session,
        *,
        subject_type: str | None = None,
        subject_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditEvent]:
        """Newest first; `before_id` is the keyset cursor for the next page."""
        query = select(AuditEvent)
        if subject_type:
            query = query.where(AuditEvent.subject_type == subject_type)
        if subject_id:
            query = query.where(AuditEvent.subject_id == subject_id)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if action:
            query = query.where(AuditEvent.action == action)
        if since:
            query = query.where(AuditEvent.occurred_at >= ensure_utc(since))
        if until:
            query = query.where(AuditEvent.occurred_at < ensure_utc(until))
        if before_id:
            query = query.where(AuditEvent.id < before_id)
        return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)).all())


audit_repository = AuditRepository()
