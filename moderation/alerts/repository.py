"""Alert storage and the indexed reads the alert scan and the digest need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from moderation.models.alert import Alert
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.notice_content import NoticeContent


class AlertRepository:
    def clocks_of(self, session: Session, notice_id: int) -> list[NoticeClock]:
        return list(
            session.scalars(
                select(NoticeClock).where(NoticeClock.notice_id == notice_id).order_by(NoticeClock.id)
            ).all()
        )

    def content_count(self, session: Session, notice_id: int) -> int:
        """How many content items (ids, URLs, images) the notice holds."""
        return int(
            session.scalar(
                select(func.count()).select_from(NoticeContent).where(NoticeContent.notice_id == notice_id)
            )
            or 0
        )

    def insert_if_absent(self, session: Session, values: dict[str, Any]) -> int | None:
        """Insert an alert unless its (notice, regime, clock, threshold) exists; its id or None."""
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(Alert)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["notice_id", "regime", "clock_id", "threshold"])
            .returning(Alert.id)
        )
        return session.execute(statement).scalar()

    def link_email(self, session: Session, alert_id: int, email_message_id: int | None) -> None:
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(email_message_id=email_message_id)
            .execution_options(synchronize_session=False)
        )

    def open_clocks_due_before(
        self, session: Session, until: datetime, regimes: Sequence[str]
    ) -> list[tuple[Notice, NoticeClock]]:
        """Running clocks of open notices due before `until` (overdue included), by due time.
        Filters on the notice's earliest due time first, which ix_notices_state_due_at serves."""
        query = (
            select(Notice, NoticeClock)
            .join(NoticeClock, NoticeClock.notice_id == Notice.id)
            .where(
                Notice.state.in_(OPEN_STATES),
                Notice.due_at <= until,
                NoticeClock.regime.in_(list(regimes)),
                NoticeClock.stopped_at.is_(None),
                NoticeClock.due_at.is_not(None),
                NoticeClock.due_at <= until,
            )
            .order_by(NoticeClock.due_at, Notice.id)
        )
        return [(row[0], row[1]) for row in session.execute(query).all()]

    def for_notice(self, session: Session, notice_id: int) -> list[Alert]:
        return list(
            session.scalars(select(Alert).where(Alert.notice_id == notice_id).order_by(Alert.id)).all()
        )

    def all(self, session: Session, limit: int = 1000) -> list[Alert]:
        return list(session.scalars(select(Alert).order_by(Alert.id).limit(limit)).all())


alert_repository = AlertRepository()
