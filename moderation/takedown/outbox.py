"""The outbox of platform actions (webhooks): a row per (notice, content, action) written with the
change, claimed and delivered by the `takedown.deliver_actions` job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings, get_settings
from moderation.kit.outbox import Claim, Outbox, OutboxTable, RetryPolicy
from moderation.kit.time import utc_now
from moderation.models.notice import Notice
from moderation.models.notice_content import NoticeContent
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery
from moderation.statements.service import statements
from moderation.takedown.context import (
    audit_notice,
)
from moderation.takedown.repository import takedown_repository as repo


def enqueue_action(
    session: Session,
    notice: Notice,
    item: NoticeContent,
    action: str,
    *,
    reason: str | None,
    actor: str,
    settings: Settings | None = None,
) -> None:
    """Queue the platform action (`remove`, `restore`) of one content item in the caller's
    transaction, once per (notice, item, action). Takedown passes its settings; other features
    enqueue through this signature without them, so only here the process settings stand in."""
    key = f"notice-{notice.id}/content-{item.id}/{action}"
    # The statement of reasons of this removal (or its reversal) travels with the action webhook.
    statement = statements.record_notice_action(
        session, notice, item, action, actor=actor, settings=settings or get_settings()
    )
    payload = {
        "event": f"content.{action}",
        "idempotency_key": key,
        "notice_id": notice.id,
        "regimes": [r["id"] for r in notice.regimes],
        "content": {
            "ref": item.ref,
            "content_id": item.content_id,
            "url": item.url,
            "sha256": item.sha256,
            "source": item.source,
        },
        "reason": reason,
        "child_safety": notice.child_safety,
        "statement": statement.model_dump(mode="json") if statement else None,
    }
    repo.add_delivery(
        session,
        WebhookDelivery(
            notice_id=notice.id,
            notice_content_id=item.id,
            action=action,
            idempotency_key=key,
            payload=payload,
            next_attempt_at=utc_now(),
        ),
    )


def enqueue_event(
    session: Session,
    *,
    key: str,
    event: str,
    payload: dict[str, Any],
    notice_id: int | None = None,
    notice_content_id: int | None = None,
) -> bool:
    """Add one platform event to the webhook outbox in the caller's transaction, exactly once per
    `key` (the receiver's idempotency key); False when a row with this key already exists."""
    stored = repo.add_delivery(
        session,
        WebhookDelivery(
            notice_id=notice_id,
            notice_content_id=notice_content_id,
            action=event.rsplit(".", 1)[-1][:20],
            idempotency_key=key,
            payload={"event": event, "idempotency_key": key, **payload},
            next_attempt_at=utc_now(),
        ),
    )
    return stored is not None


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    attempt: int
    notice_id: int | None
    idempotency_key: str
    payload: dict[str, Any]
    # The request that enqueued the action: the delivery logs and audits under it.
    request_id: str | None = None
    attempt_id: int = 0


# The action webhook outbox on the shared primitive.
WEBHOOK_OUTBOX = Outbox(
    OutboxTable(
        row=WebhookDelivery,
        attempt=WebhookAttempt,
        lease_column="lease_until",
        done_state="delivered",
        done_at_column="delivered_at",
        attempt_row_column="delivery_id",
        attempt_number_column="attempt",
        open_outcome="sending",
        success_outcome="delivered",
        failure_outcome="error",
    )
)


def lease_for(settings: Settings) -> timedelta:
    """How long a claimed delivery is held: the webhook timeout and 30 s to record the outcome."""
    return timedelta(seconds=settings.action_webhook_timeout_seconds + 30)


class ActionOutbox:
    """The outbox of platform actions. Lifecycle of a row: `pending` (due at `next_attempt_at`) ->
    `claim` (conditional UPDATE: `sending`, attempts+1, a lease) -> the job sends it outside any
    transaction -> `record` makes it `delivered`, `pending` again with exponential backoff, or
    `failed` after the last attempt. A row whose worker died is claimable again once its lease
    expires; the receiver deduplicates on the idempotency key, so a resend is harmless. Claims,
    leases, retries and attempt records are the shared primitive (`moderation.kit.outbox`)."""

    max_attempts = 10
    base_delay = timedelta(seconds=30)
    max_delay = timedelta(hours=1)

    @property
    def retry_policy(self) -> RetryPolicy:
        """30 s, 1 min, 2 min ... capped at one hour; `failed` after ten attempts."""
        return RetryPolicy(
            base_delay=self.base_delay, max_delay=self.max_delay, max_attempts=self.max_attempts
        )

    def backoff(self, attempt: int) -> timedelta:
        """Delay after failed attempt n (1-based): 30 s, 1 min, 2 min ... capped at one hour."""
        return self.retry_policy.backoff(attempt)

    def due(self, session: Session, *, limit: int) -> list[tuple[int, int]]:
        return WEBHOOK_OUTBOX.due(session, utc_now(), limit)

    def claim(
        self, session: Session, delivery_id: int, *, seen_attempts: int, worker: str, lease: timedelta
    ) -> ClaimedDelivery | None:
        """Claim one attempt of a row; None when another worker got it first (or, `seen_attempts`
        being out of date, has claimed it since it was listed as due)."""
        claim = WEBHOOK_OUTBOX.claim(
            session, delivery_id, worker=worker, now=utc_now(), lease=lease, seen_attempts=seen_attempts
        )
        if claim is None:
            return None
        row = repo.get_delivery(session, delivery_id)
        assert row is not None
        return ClaimedDelivery(
            row.id,
            claim.attempt,
            row.notice_id,
            row.idempotency_key,
            dict(row.payload),
            row.request_id,
            claim.attempt_id,
        )

    def record(
        self,
        session: Session,
        claimed: ClaimedDelivery,
        *,
        worker: str,
        ok: bool,
        status_code: int | None,
        error: str | None,
        actor: str,
    ) -> str:
        """Store the outcome of an attempt; returns the row's new state ('lost' if the lease lapsed
        and another worker owns the row now, or had delivered it: the outcome is recorded on the
        attempt only)."""
        now = utc_now()
        claim = Claim(claimed.id, claimed.attempt, claimed.attempt_id, resend=False)
        status = {"status_code": status_code}
        state: str | None
        if ok:
            made = WEBHOOK_OUTBOX.succeed(
                session, claim, now=now, attempt_values=status, row_values={"last_status": status_code}
            )
            state = "delivered" if made else None
        else:
            state, _ = WEBHOOK_OUTBOX.fail(
                session,
                claim,
                worker=worker,
                now=now,
                error=error or "failed",
                policy=self.retry_policy,
                attempt_values=status,
                row_values={"last_status": status_code},
            )
        if state is None:
            return "lost"
        if state in ("delivered", "failed") and claimed.notice_id is None:
            audit.record(
                session,
                actor=actor,
                action=f"webhook.{state}",
                subject_type="webhook",
                subject_id=claimed.id,
                details={
                    "idempotency_key": claimed.idempotency_key,
                    "attempts": claimed.attempt,
                    "status_code": status_code,
                    "error": error,
                },
            )
        elif state in ("delivered", "failed"):
            assert claimed.notice_id is not None
            audit_notice(
                session,
                claimed.notice_id,
                f"notice.action_{state}",
                actor=actor,
                details={
                    "delivery_id": claimed.id,
                    "idempotency_key": claimed.idempotency_key,
                    "attempts": claimed.attempt,
                    "status_code": status_code,
                    "error": error,
                },
            )
        return state


action_outbox = ActionOutbox()
