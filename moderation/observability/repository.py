"""SQL of the metrics read at scrape time: notices and clocks, outboxes, delivery failures, seals, jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from moderation.models.alert import Alert
from moderation.models.audit_event import AuditEvent
from moderation.models.check import Check
from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage
from moderation.models.job_run import JobRun
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery

EMAIL_UNDELIVERED = ("pending", "sending")
WEBHOOK_UNDELIVERED = ("pending", "sending")
# Notices actioned within this window feed the time-to-action figures; at most this many are read.
TIME_TO_ACTION_WINDOW = timedelta(days=7)
TIME_TO_ACTION_MAX_ROWS = 50_000


class OperationsRepository:
    def notices_open_by_regime(self, session: Session) -> dict[str, int]:
        """Open notices per regime of their clocks (a notice under two regimes counts in both)."""
        rows = session.execute(
            select(NoticeClock.regime, func.count(distinct(NoticeClock.notice_id)))
            .join(Notice, Notice.id == NoticeClock.notice_id)
            .where(Notice.state.in_(OPEN_STATES))
            .group_by(NoticeClock.regime)
        )
        return {regime: int(count) for regime, count in rows}

    def notices_overdue_by_regime(self, session: Session, now: datetime) -> dict[str, int]:
        """Open notices with a running, unpaused clock past its due time, per regime."""
        rows = session.execute(
            select(NoticeClock.regime, func.count(distinct(NoticeClock.notice_id)))
            .join(Notice, Notice.id == NoticeClock.notice_id)
            .where(
                Notice.state.in_(OPEN_STATES),
                NoticeClock.stopped_at.is_(None),
                NoticeClock.paused.is_(False),
                NoticeClock.due_at.is_not(None),
                NoticeClock.due_at < now,
            )
            .group_by(NoticeClock.regime)
        )
        return {regime: int(count) for regime, count in rows}

    def breaches_by_regime(self, session: Session) -> dict[str, int]:
        """Breach alerts decided so far, per regime (one per clock that ran out)."""
        rows = session.execute(
            select(Alert.regime, func.count()).where(Alert.threshold == "breach").group_by(Alert.regime)
        )
        return {regime: int(count) for regime, count in rows}

    def seconds_to_action(self, session: Session, now: datetime) -> list[float]:
        """Received-to-actioned seconds of the notices actioned in the window, newest first."""
        rows = session.execute(
            select(Notice.received_at, Notice.actioned_at)
            .where(Notice.actioned_at.is_not(None), Notice.actioned_at >= now - TIME_TO_ACTION_WINDOW)
            .order_by(Notice.actioned_at.desc())
            .limit(TIME_TO_ACTION_MAX_ROWS)
        )
        return [
            max(0.0, (actioned - received).total_seconds())
            for received, actioned in rows
            if actioned is not None
        ]

    def email_outbox(self, session: Session) -> tuple[int, datetime | None]:
        """Undelivered emails and the creation time of the oldest."""
        count, oldest = session.execute(
            select(func.count(), func.min(EmailMessage.created_at)).where(
                EmailMessage.state.in_(EMAIL_UNDELIVERED)
            )
        ).one()
        return int(count), oldest

    def webhook_outbox(self, session: Session) -> tuple[int, datetime | None]:
        """Undelivered action webhooks and the creation time of the oldest."""
        count, oldest = session.execute(
            select(func.count(), func.min(WebhookDelivery.created_at)).where(
                WebhookDelivery.state.in_(WEBHOOK_UNDELIVERED)
            )
        ).one()
        return int(count), oldest

    def email_failures(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).where(EmailAttempt.outcome == "failed")) or 0)

    def webhook_failures(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).where(WebhookAttempt.outcome == "error")) or 0)

    def webhooks_given_up(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).where(WebhookDelivery.state == "failed")) or 0)

    def last_seal_at(self, session: Session) -> datetime | None:
        """Time of the newest audit event that sealed check decisions (the last audit checkpoint)."""
        newest = select(func.max(Check.sealed_by_event_id)).scalar_subquery()
        return session.scalar(select(AuditEvent.occurred_at).where(AuditEvent.id == newest))

    def job_runs(self, session: Session) -> list[JobRun]:
        return list(session.scalars(select(JobRun).order_by(JobRun.name)))


operations_repository = OperationsRepository()
