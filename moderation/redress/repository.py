"""SQL of the redress feature: appeals and counter-notices, conditional updates for every claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.models.appeal import Appeal
from moderation.models.counter_notice import CounterNotice


class RedressRepository:
    def add_appeal(self, session: Session, appeal: Appeal) -> Appeal | None:
        """Insert; None when the client reference is already taken (a concurrent retry)."""
        try:
            with session.begin_nested():
                session.add(appeal)
                session.flush()
        except IntegrityError:
            return None
        return appeal

    def appeal(self, session: Session, appeal_id: int) -> Appeal | None:
        return session.get(Appeal, appeal_id, populate_existing=True)

    def appeal_by_reference(self, session: Session, reference: str) -> Appeal | None:
        return session.scalars(select(Appeal).where(Appeal.client_reference == reference)).first()

    def appeals_of(
        self, session: Session, *, check_id: int | None = None, notice_id: int | None = None
    ) -> list[Appeal]:
        query = select(Appeal).order_by(Appeal.id)
        if check_id is not None:
            query = query.where(Appeal.check_id == check_id)
        if notice_id is not None:
            query = query.where(Appeal.notice_id == notice_id)
        return list(session.scalars(query).all())

    def appeal_page(
        self, session: Session, *, state: str | None, after: tuple[datetime, int] | None, limit: int
    ) -> list[Appeal]:
        """Appeals by due time, earliest first (keyset: due_at, id)."""
        query = select(Appeal).order_by(Appeal.due_at, Appeal.id).limit(limit)
        if state is not None:
            query = query.where(Appeal.state == state)
        if after is not None:
            due, last_id = after
            query = query.where((Appeal.due_at > due) | ((Appeal.due_at == due) & (Appeal.id > last_id)))
        return list(session.scalars(query).all())

    def decide_appeal(self, session: Session, appeal_id: int, values: dict[str, Any]) -> bool:
        """open -> decided, once: False when another reviewer decided it first."""
        result = session.execute(
            update(Appeal).where(Appeal.id == appeal_id, Appeal.state == "open").values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    def set_appeal(self, session: Session, appeal_id: int, values: dict[str, Any]) -> None:
        session.execute(update(Appeal).where(Appeal.id == appeal_id).values(**values))

    def overdue_appeals(self, session: Session, now: datetime, limit: int) -> list[Appeal]:
        return list(
            session.scalars(
                select(Appeal)
                .where(Appeal.state == "open", Appeal.due_at <= now, Appeal.overdue_alerted_at.is_(None))
                .order_by(Appeal.due_at, Appeal.id)
                .limit(limit)
            ).all()
        )

    def claim_appeal_alert(self, session: Session, appeal_id: int, now: datetime) -> bool:
        result = session.execute(
            update(Appeal)
            .where(Appeal.id == appeal_id, Appeal.overdue_alerted_at.is_(None))
            .values(overdue_alerted_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    # --- counter-notices -------------------------------------------------------------------------
    def add_counter_notice(self, session: Session, row: CounterNotice) -> CounterNotice | None:
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return None
        return row

    def counter_notice(self, session: Session, counter_id: int) -> CounterNotice | None:
        return session.get(CounterNotice, counter_id, populate_existing=True)

    def counter_notice_by_reference(self, session: Session, reference: str) -> CounterNotice | None:
        return session.scalars(
            select(CounterNotice).where(CounterNotice.client_reference == reference)
        ).first()

    def counter_notices_of(self, session: Session, notice_id: int) -> list[CounterNotice]:
        return list(
            session.scalars(
                select(CounterNotice).where(CounterNotice.notice_id == notice_id).order_by(CounterNotice.id)
            ).all()
        )

    def counter_notice_page(
        self, session: Session, *, state: str | None, after: int | None, limit: int
    ) -> list[CounterNotice]:
        query = select(CounterNotice).order_by(CounterNotice.id).limit(limit)
        if state is not None:
            query = query.where(CounterNotice.state == state)
        if after is not None:
            query = query.where(CounterNotice.id > after)
        return list(session.scalars(query).all())

    def restorable(self, session: Session, now: datetime, limit: int) -> list[int]:
        return list(
            session.scalars(
                select(CounterNotice.id)
                .where(CounterNotice.state == "waiting", CounterNotice.restore_from <= now)
                .order_by(CounterNotice.restore_from, CounterNotice.id)
                .limit(limit)
            ).all()
        )

    def window_closing(self, session: Session, before: datetime, limit: int) -> list[CounterNotice]:
        return list(
            session.scalars(
                select(CounterNotice)
                .where(
                    CounterNotice.state == "waiting",
                    CounterNotice.restore_by <= before,
                    CounterNotice.window_alerted_at.is_(None),
                )
                .order_by(CounterNotice.restore_by, CounterNotice.id)
                .limit(limit)
            ).all()
        )

    def move_counter_notice(
        self, session: Session, counter_id: int, *, expected: str, values: dict[str, Any]
    ) -> bool:
        """A conditional state change: False when another worker or reviewer moved it first."""
        result = session.execute(
            update(CounterNotice)
            .where(CounterNotice.id == counter_id, CounterNotice.state == expected)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    def claim_window_alert(self, session: Session, counter_id: int, now: datetime) -> bool:
        result = session.execute(
            update(CounterNotice)
            .where(CounterNotice.id == counter_id, CounterNotice.window_alerted_at.is_(None))
            .values(window_alerted_at=now)
        )
        return bool(getattr(result, "rowcount", 0))


redress_repository = RedressRepository()
