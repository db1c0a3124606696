"""All SQL of the takedown feature: notices, clocks, pauses, content, the action outbox and evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.kit.paging import CursorKey, KeyPart, KeyValue, keyset_after
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.notice_content import NoticeContent
from moderation.models.notice_pause import NoticePause
from moderation.models.notice_step import NoticeStep
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery

# The queue's order: due time (none last), then id; notices.id is a 32-bit INTEGER on PostgreSQL.
QUEUE_KEY: CursorKey = (KeyPart("time", nullable=True), KeyPart("int", maximum=2**31 - 1))


class TakedownRepository:
    # --- notices ------------------------------------------------------------------------------
    def insert_notice(self, session: Session, notice: Notice) -> Notice | None:
        """Insert in a savepoint; None when the client reference already exists (a retry or a race)."""
        try:
            with session.begin_nested():
                session.add(notice)
                session.flush()
        except IntegrityError:
            return None
        return notice

    def get(self, session: Session, notice_id: int) -> Notice | None:
        return session.get(Notice, notice_id, populate_existing=True)

    def by_client_reference(self, session: Session, reference: str) -> Notice | None:
        return session.scalars(select(Notice).where(Notice.client_reference == reference)).first()

    def move_state(
        self,
        session: Session,
        notice_id: int,
        *,
        expected: Sequence[str],
        values: dict[str, Any],
    ) -> bool:
        """Conditional UPDATE: only a notice still in one of `expected` moves. False means someone
        else moved it first (or it never was in those states): the caller answers 409."""
        result = session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.state.in_(list(expected)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def update_notice(self, session: Session, notice_id: int, values: dict[str, Any]) -> None:
        session.execute(
            update(Notice)
            .where(Notice.id == notice_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def queue(
        self,
        session: Session,
        *,
        states: Sequence[str],
        regime: str | None,
        assignee: str | None,
        overdue_at: datetime | None,
        after: Sequence[KeyValue] | None,
        limit: int,
    ) -> list[Notice]:
        """Notices by due time (no due time last), then id; `after` is the keyset cursor.

        Filtered by regime over open states, the walk goes through the regime's queue rows in
        `notice_clocks` (one per open notice and regime, carrying the notice's due time)."""
        if regime and set(states) <= set(OPEN_STATES):
            return self._regime_queue(
                session,
                states=states,
                regime=regime,
                assignee=assignee,
                overdue_at=overdue_at,
                after=after,
                limit=limit,
            )
        query = select(Notice).where(Notice.state.in_(list(states)))
        if regime:
            query = query.where(
                exists().where(NoticeClock.notice_id == Notice.id, NoticeClock.regime == regime)
            )
        if assignee:
            query = query.where(Notice.assignee == assignee)
        if overdue_at is not None:
            query = query.where(Notice.due_at < overdue_at)
        query = _after(query, Notice.due_at, Notice.id, after)
        query = query.order_by(Notice.due_at.asc().nulls_last(), Notice.id.asc()).limit(limit)
        return list(session.scalars(query).all())

    def _regime_queue(
        self,
        session: Session,
        *,
        states: Sequence[str],
        regime: str,
        assignee: str | None,
        overdue_at: datetime | None,
        after: Sequence[KeyValue] | None,
        limit: int,
    ) -> list[Notice]:
        query = (
            select(Notice)
            .join(NoticeClock, NoticeClock.notice_id == Notice.id)
            .where(NoticeClock.regime == regime, NoticeClock.in_queue == true())
        )
        if set(states) != set(OPEN_STATES):
            query = query.where(Notice.state.in_(list(states)))
        if assignee:
            query = query.where(Notice.assignee == assignee)
        if overdue_at is not None:
            query = query.where(NoticeClock.queue_due_at < overdue_at)
        query = _after(query, NoticeClock.queue_due_at, NoticeClock.notice_id, after)
        query = query.order_by(
            NoticeClock.queue_due_at.asc().nulls_last(), NoticeClock.notice_id.asc()
        ).limit(limit)
        return list(session.scalars(query).all())

    # --- content ------------------------------------------------------------------------------
    def add_content(self, session: Session, item: NoticeContent) -> NoticeContent:
        session.add(item)
        session.flush()
        return item

    def contents(self, session: Session, notice_id: int) -> list[NoticeContent]:
        return list(
            session.scalars(
                select(NoticeContent).where(NoticeContent.notice_id == notice_id).order_by(NoticeContent.id)
            ).all()
        )

    def removed_elsewhere(self, session: Session, sha256s: Sequence[str], notice_id: int) -> dict[str, int]:
        """SHA-256 -> another notice under which an item with that hash is still removed."""
        if not sha256s:
            return {}
        rows = session.execute(
            select(NoticeContent.sha256, NoticeContent.notice_id).where(
                NoticeContent.sha256.in_(sorted(set(sha256s))),
                NoticeContent.state == "removed",
                NoticeContent.notice_id != notice_id,
            )
        ).all()
        return {str(sha): int(other) for sha, other in rows}

    def get_content(self, session: Session, item_id: int) -> NoticeContent | None:
        return session.get(NoticeContent, item_id, populate_existing=True)

    def move_content_state(
        self, session: Session, item_id: int, *, expected: str, values: dict[str, Any]
    ) -> bool:
        """Conditional UPDATE of one content item; False when it is no longer in `expected`."""
        result = session.execute(
            update(NoticeContent)
            .where(NoticeContent.id == item_id, NoticeContent.state == expected)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    # --- clocks and pauses --------------------------------------------------------------------
    def clocks(self, session: Session, notice_id: int) -> list[NoticeClock]:
        return list(
            session.scalars(
                select(NoticeClock).where(NoticeClock.notice_id == notice_id).order_by(NoticeClock.id)
            ).all()
        )

    def replace_clocks(self, session: Session, notice_id: int, rows: list[NoticeClock]) -> None:
        """Write the freshly computed clocks, keeping each existing row's id and alert progress."""
        existing = {(c.regime, c.clock): c for c in self.clocks(session, notice_id)}
        for row in rows:
            current = existing.pop((row.regime, row.clock), None)
            if current is None:
                session.add(row)
                continue
            for field in (
                "regime_version",
                "kind",
                "step",
                "trigger",
                "starts_at",
                "due_at",
                "reason",
                "pausable",
                "paused",
                "paused_seconds",
                "next_alert_at",
                "next_alert_threshold",
                "stopped_at",
                "met",
                "in_queue",
                "queue_due_at",
            ):
                setattr(current, field, getattr(row, field))
        for stale in existing.values():
            session.delete(stale)
        session.flush()

    def pauses(self, session: Session, notice_id: int) -> list[NoticePause]:
        return list(
            session.scalars(
                select(NoticePause).where(NoticePause.notice_id == notice_id).order_by(NoticePause.id)
            ).all()
        )

    def add_step(self, session: Session, step: NoticeStep) -> NoticeStep:
        session.add(step)
        session.flush()
        return step

    def steps(self, session: Session, notice_id: int) -> list[NoticeStep]:
        return list(
            session.scalars(
                select(NoticeStep).where(NoticeStep.notice_id == notice_id).order_by(NoticeStep.recorded_at)
            )
        )

    def add_pause(self, session: Session, pause: NoticePause) -> NoticePause:
        session.add(pause)
        session.flush()
        return pause

    def end_open_pauses(self, session: Session, notice_id: int, *, at: datetime, actor: str) -> int:
        result = session.execute(
            update(NoticePause)
            .where(NoticePause.notice_id == notice_id, NoticePause.ended_at.is_(None))
            .values(ended_at=at, ended_by=actor)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def alerting(self, session: Session, notice_ids: list[int], now: datetime) -> set[int]:
        """Of these notices, those with a running clock past its first alert threshold (alerted, or
        due to be at the next scan)."""
        if not notice_ids:
            return set()
        rows = session.scalars(
            select(NoticeClock.notice_id).where(
                NoticeClock.notice_id.in_(notice_ids),
                NoticeClock.stopped_at.is_(None),
                or_(NoticeClock.last_alert_threshold.is_not(None), NoticeClock.next_alert_at <= now),
            )
        )
        return set(rows)

    def alerts_due(self, session: Session, now: datetime, limit: int) -> list[NoticeClock]:
        """Running clocks whose next alert threshold time has come, oldest first (the alert scan)."""
        return list(
            session.scalars(
                select(NoticeClock)
                .where(NoticeClock.next_alert_at.is_not(None), NoticeClock.next_alert_at <= now)
                .order_by(NoticeClock.next_alert_at)
                .limit(limit)
            ).all()
        )

    def advance_alert(
        self,
        session: Session,
        clock_id: int,
        *,
        expected_at: datetime,
        sent: float,
        next_at: datetime | None,
        next_threshold: float | None,
    ) -> bool:
        """Move a clock's alert marker past a threshold; False if another worker already did."""
        result = session.execute(
            update(NoticeClock)
            .where(NoticeClock.id == clock_id, NoticeClock.next_alert_at == expected_at)
            .values(last_alert_threshold=sent, next_alert_at=next_at, next_alert_threshold=next_threshold)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    # --- outbox -------------------------------------------------------------------------------
    def add_delivery(self, session: Session, delivery: WebhookDelivery) -> WebhookDelivery | None:
        """Insert an outbox row unless one with the same idempotency key exists (None then)."""
        found = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.idempotency_key == delivery.idempotency_key)
        ).first()
        if found is not None:
            return None
        session.add(delivery)
        session.flush()
        return delivery

    def deliveries(self, session: Session, notice_id: int) -> list[WebhookDelivery]:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.notice_id == notice_id)
                .order_by(WebhookDelivery.id)
            ).all()
        )

    def get_delivery(self, session: Session, delivery_id: int) -> WebhookDelivery | None:
        return session.get(WebhookDelivery, delivery_id, populate_existing=True)

    def attempts(self, session: Session, delivery_ids: Sequence[int]) -> list[WebhookAttempt]:
        if not delivery_ids:
            return []
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
                .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
            ).all()
        )

    # --- evidence -----------------------------------------------------------------------------
    def add_evidence(self, session: Session, item: EvidenceItem) -> EvidenceItem:
        session.add(item)
        session.flush()
        return item

    def evidence(self, session: Session, notice_id: int) -> list[EvidenceItem]:
        return list(
            session.scalars(
                select(EvidenceItem).where(EvidenceItem.notice_id == notice_id).order_by(EvidenceItem.id)
            ).all()
        )

    def get_evidence(self, session: Session, evidence_id: int) -> EvidenceItem | None:
        return session.get(EvidenceItem, evidence_id)

    def add_hold(self, session: Session, hold: EvidenceHold) -> EvidenceHold:
        session.add(hold)
        session.flush()
        return hold

    def holds(self, session: Session, notice_id: int) -> list[EvidenceHold]:
        return list(
            session.scalars(
                select(EvidenceHold).where(EvidenceHold.notice_id == notice_id).order_by(EvidenceHold.id)
            ).all()
        )

    def release_holds(self, session: Session, notice_id: int, kind: str, *, at: datetime) -> int:
        result = session.execute(
            update(EvidenceHold)
            .where(
                EvidenceHold.notice_id == notice_id,
                EvidenceHold.kind == kind,
                EvidenceHold.released_at.is_(None),
            )
            .values(released_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _active_hold(self, now: datetime) -> Any:
        return exists().where(
            EvidenceHold.evidence_id == EvidenceItem.id,
            EvidenceHold.released_at.is_(None),
            or_(EvidenceHold.until.is_(None), EvidenceHold.until > now),
        )

    def purgeable(self, session: Session, now: datetime, limit: int) -> list[int]:
        """Evidence not yet purged that no active hold covers."""
        return list(
            session.scalars(
                select(EvidenceItem.id)
                .where(EvidenceItem.purged_at.is_(None), ~self._active_hold(now))
                .order_by(EvidenceItem.id)
                .limit(limit)
            ).all()
        )

    def purge(self, session: Session, evidence_id: int, now: datetime) -> bool:
        """Drop the bytes and metadata, keeping a tombstone row; re-checks holds in the same statement
        so a hold added meanwhile wins."""
        result = session.execute(
            update(EvidenceItem)
            .where(EvidenceItem.id == evidence_id, EvidenceItem.purged_at.is_(None), ~self._active_hold(now))
            .values(ciphertext=None, details={}, hashes={}, purged_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def count_notices(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Notice)) or 0)

    def delete_clocks(self, session: Session, notice_id: int) -> None:
        session.execute(delete(NoticeClock).where(NoticeClock.notice_id == notice_id))

    # --- dashboard reads ----------------------------------------------------------------------
    def open_clock_dues(self, session: Session) -> list[tuple[int, str, datetime | None]]:
        """(notice id, regime, due_at) of every clock of every open notice."""
        rows = session.execute(
            select(NoticeClock.notice_id, NoticeClock.regime, NoticeClock.due_at)
            .join(Notice, Notice.id == NoticeClock.notice_id)
            .where(Notice.state.in_(OPEN_STATES))
        )
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    def actioned_since(self, session: Session, since: datetime) -> list[tuple[int, datetime, datetime]]:
        """(id, received_at, actioned_at) of notices actioned at or after `since`."""
        rows = session.execute(
            select(Notice.id, Notice.received_at, Notice.actioned_at).where(Notice.actioned_at >= since)
        )
        return [(int(r[0]), r[1], r[2]) for r in rows if r[2] is not None]

    def clocks_of(self, session: Session, notice_ids: Sequence[int]) -> list[NoticeClock]:
        if not notice_ids:
            return []
        return list(
            session.scalars(select(NoticeClock).where(NoticeClock.notice_id.in_(list(notice_ids)))).all()
        )

    def evidence_holding(self, session: Session, sha256: str) -> list[EvidenceItem]:
        """Unpurged evidence with preserved bytes of the image with this SHA-256."""
        return list(
            session.scalars(
                select(EvidenceItem)
                .where(EvidenceItem.sha256 == sha256, EvidenceItem.ciphertext.is_not(None))
                .order_by(EvidenceItem.id)
            ).all()
        )


def _after(query: Any, due_column: Any, id_column: Any, after: Sequence[KeyValue] | None) -> Any:
    """Rows strictly after the cursor in the queue's order (due NULLS LAST, id)."""
    if after is None:
        return query
    return keyset_after(query, (due_column, id_column), QUEUE_KEY, after)


takedown_repository = TakedownRepository()
