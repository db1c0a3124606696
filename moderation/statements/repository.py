"""All SQL of the statements feature: statements (insert/select only), submissions, report queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.models.bank_entry import BankEntry
from moderation.models.content_item import ContentItem
from moderation.models.notice import Notice
from moderation.models.notice_content import NoticeContent
from moderation.models.statement import Statement
from moderation.models.statement_submission import StatementSubmission


class StatementRepository:
    """Statements are append-only: there is no update or delete here (the database refuses them too)."""

    def insert(self, session: Session, statement: Statement) -> Statement | None:
        """Insert in a savepoint; None when a statement with the same dedup key already exists."""
        try:
            with session.begin_nested():
                session.add(statement)
                session.flush()
        except IntegrityError:
            return None
        return statement

    def get(self, session: Session, statement_id: int) -> Statement | None:
        return session.get(Statement, statement_id)

    def by_dedup_key(self, session: Session, key: str) -> Statement | None:
        return session.scalars(select(Statement).where(Statement.dedup_key == key)).first()

    def for_content(
        self, session: Session, content_id: str, *, limit: int, after: int | None = None
    ) -> list[Statement]:
        query = select(Statement).where(Statement.content_id == content_id)
        if after is not None:
            query = query.where(Statement.id > after)
        return list(session.scalars(query.order_by(Statement.id).limit(limit)).all())

    def removal_under_notice(self, session: Session, notice_id: int, ref: str | None) -> Statement | None:
        """The removal statement of the notice's item `ref` (what a stay-down entry was made from);
        the notice's first removal statement when the item is unknown."""
        query = select(Statement).where(Statement.notice_id == notice_id, Statement.kind == "notice_removal")
        if ref is not None:
            exact = session.scalars(
                query.join(NoticeContent, NoticeContent.id == Statement.notice_content_id).where(
                    NoticeContent.ref == ref
                )
            ).first()
            if exact is not None:
                return exact
        return session.scalars(query.order_by(Statement.id)).first()

    def followed_by(self, session: Session, statement_id: int) -> list[Statement]:
        return list(
            session.scalars(
                select(Statement).where(Statement.follows_id == statement_id).order_by(Statement.id)
            )
        )

    def by_ids(self, session: Session, ids: Sequence[int]) -> list[Statement]:
        if not ids:
            return []
        return list(
            session.scalars(select(Statement).where(Statement.id.in_(list(ids))).order_by(Statement.id))
        )

    # --- facts from other tables (read only) ---------------------------------------------------
    def first_seen(self, session: Session, content_id: str) -> datetime | None:
        """When the content registry first saw this content id (when it was posted, as far as we know)."""
        return session.scalar(
            select(func.min(ContentItem.created_at)).where(ContentItem.content_id == content_id)
        )

    def bank_entry_meta(self, session: Session, entry_id: int) -> dict[str, Any]:
        """The metadata of a bank entry's top-level entry (a robust variant points at its parent)."""
        entry = session.get(BankEntry, entry_id)
        if entry is not None and entry.parent_id is not None:
            entry = session.get(BankEntry, entry.parent_id)
        return dict(entry.meta or {}) if entry is not None else {}

    # --- submissions ---------------------------------------------------------------------------
    def add_submission(self, session: Session, submission: StatementSubmission) -> None:
        session.add(submission)
        session.flush()

    def submission(self, session: Session, statement_id: int) -> StatementSubmission | None:
        return session.get(StatementSubmission, statement_id, populate_existing=True)

    def due_submissions(self, session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(statement id, attempts) of submissions to try now: pending and due, or claimed by a worker
        whose lease ran out. Oldest first."""
        rows = session.execute(
            select(StatementSubmission.statement_id, StatementSubmission.attempts)
            .where(
                or_(
                    and_(StatementSubmission.state == "pending", StatementSubmission.next_attempt_at <= now),
                    and_(StatementSubmission.state == "sending", StatementSubmission.lease_until < now),
                )
            )
            .order_by(StatementSubmission.statement_id)
            .limit(limit)
        ).all()
        return [(int(r[0]), int(r[1])) for r in rows]

    def claim(
        self,
        session: Session,
        statement_id: int,
        *,
        attempts: int,
        now: datetime,
        lease_until: datetime,
        worker: str,
    ) -> bool:
        """Conditional UPDATE: of two workers racing for a row, exactly one sees rowcount 1."""
        result = session.execute(
            update(StatementSubmission)
            .where(
                StatementSubmission.statement_id == statement_id,
                StatementSubmission.attempts == attempts,
                or_(
                    and_(StatementSubmission.state == "pending", StatementSubmission.next_attempt_at <= now),
                    and_(StatementSubmission.state == "sending", StatementSubmission.lease_until < now),
                ),
            )
            .values(state="sending", attempts=attempts + 1, lease_until=lease_until, claimed_by=worker)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def settle(self, session: Session, statement_id: int, *, worker: str, values: dict[str, Any]) -> bool:
        """Record the outcome of this worker's claim; False when the claim was lost to another worker."""
        result = session.execute(
            update(StatementSubmission)
            .where(
                StatementSubmission.statement_id == statement_id,
                StatementSubmission.state == "sending",
                StatementSubmission.claimed_by == worker,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def submission_counts(self, session: Session) -> dict[str, int]:
        rows = session.execute(
            select(StatementSubmission.state, func.count()).group_by(StatementSubmission.state)
        ).all()
        return {str(state): int(count) for state, count in rows}

    def rejected(self, session: Session, limit: int) -> list[tuple[Statement, StatementSubmission]]:
        rows = session.execute(
            select(Statement, StatementSubmission)
            .join(StatementSubmission, StatementSubmission.statement_id == Statement.id)
            .where(StatementSubmission.state == "rejected")
            .order_by(Statement.id)
            .limit(limit)
        ).all()
        return [(r[0], r[1]) for r in rows]

    # --- transparency report -------------------------------------------------------------------
    def statements_between(self, session: Session, start: datetime, end: datetime) -> list[Statement]:
        return list(
            session.scalars(
                select(Statement)
                .where(Statement.created_at >= start, Statement.created_at < end)
                .order_by(Statement.id)
            )
        )

    def notices_between(self, session: Session, start: datetime, end: datetime) -> list[Notice]:
        return list(
            session.scalars(
                select(Notice)
                .where(Notice.received_at >= start, Notice.received_at < end)
                .order_by(Notice.id)
            )
        )


statements_repository = StatementRepository()
