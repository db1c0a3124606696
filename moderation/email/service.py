"""The email outbox: enqueue in the caller's transaction, then claim, send and record each attempt.

Lifecycle of a message: `enqueue` inserts it as *pending* (a second enqueue with the same key does
nothing); the delivery job `claim`s it (conditional UPDATE to *sending* with a lease, plus an attempt
row, committed before any SMTP traffic); after talking to the server it calls `record_sent` or
`record_failure` (back to *pending* with an exponential backoff). A worker that dies mid-send leaves
the message *sending*; once its lease runs out another claim closes the old attempt as *abandoned*
and sends it again, with the same Message-ID so the resend can be recognised. Claims, leases, retries
and attempt records are the shared outbox primitive (`moderation.kit.outbox`), configured by
`retry_policy` and MODERATION_EMAIL_LEASE_SECONDS.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.email.repository import outbox_repository
from moderation.kit.outbox import Claim, Outbox, OutboxTable, RetryPolicy
from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage


@functools.lru_cache(maxsize=1)
def _templates() -> Environment:
    # HTML is autoescaped (notice data is untrusted text); plain-text templates are not.
    return Environment(
        loader=PackageLoader("moderation.email", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, detached from the session: what the transport needs to send it."""

    id: int
    key: str
    recipients: tuple[str, ...]
    subject: str
    text_body: str
    html_body: str
    attempt_id: int
    attempt_number: int
    resend: bool
    request_id: str | None = None


def message_id_header(key: str, message_id: int, from_address: str) -> str:
    """A Message-ID that depends only on the outbox row, so every resend carries the same one."""
    domain = from_address.rsplit("@", 1)[-1].strip("> ") or "localhost"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return f"<outbox-{message_id}.{digest}@{domain}>"


# The email outbox on the shared primitive: retried until the server takes it (no last attempt).
EMAIL_OUTBOX = Outbox(
    OutboxTable(
        row=EmailMessage,
        attempt=EmailAttempt,
        lease_column="lease_expires_at",
        done_state="sent",
        done_at_column="sent_at",
        attempt_row_column="message_id",
        attempt_number_column="number",
        open_outcome=None,
        success_outcome="sent",
        failure_outcome="failed",
    )
)


def retry_policy(settings: Settings) -> RetryPolicy:
    """MODERATION_EMAIL_RETRY_BASE_SECONDS doubling up to MODERATION_EMAIL_RETRY_MAX_SECONDS."""
    return RetryPolicy(
        base_delay=timedelta(seconds=settings.email_retry_base_seconds),
        max_delay=timedelta(seconds=settings.email_retry_max_seconds),
        max_attempts=None,
    )


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """Exponential backoff: base, 2x base, 4x base ... capped at the maximum."""
    return retry_policy(settings).backoff(attempts)


def _claim_of(outgoing: Outgoing) -> Claim:
    return Claim(outgoing.id, outgoing.attempt_number, outgoing.attempt_id, outgoing.resend)


class OutboxService:
    def render(self, template: str, **context: Any) -> str:
        """Render `moderation/email/templates/<template>` (HTML autoescaped)."""
        return _templates().get_template(template).render(**context)

    def first_template(self, candidates: list[str]) -> str:
        """The first of `candidates` that exists (a regime's own wording before the default)."""
        return str(_templates().select_template(candidates).name)

    def enqueue(
        self,
        session: Session,
        *,
        key: str,
        kind: str,
        recipients: list[str],
        subject: str,
        text_body: str,
        html_body: str,
        now: datetime,
    ) -> int | None:
        """Add a message to the outbox in the caller's transaction. Returns its id, or None when a
        message with this key already exists (a retry, a restart or a second worker)."""
        return outbox_repository.insert_if_absent(
            session,
            {
                "key": key,
                "kind": kind,
                "recipients": sorted(set(recipients)),
                "subject": subject[:300],
                "text_body": text_body,
                "html_body": html_body,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )

    def due(self, session: Session, now: datetime, limit: int = 100) -> list[int]:
        """Ids of messages to try now (pending and due, or claimed with an expired lease)."""
        return [message_id for message_id, _ in EMAIL_OUTBOX.due(session, now, limit)]

    def claim(
        self, session: Session, message_id: int, *, worker: str, now: datetime, settings: Settings
    ) -> Outgoing | None:
        """Claim one message for `worker` and open its attempt; None if another worker has it.
        The caller commits before sending, so the claim and the attempt survive a crash."""
        claim = EMAIL_OUTBOX.claim(
            session, message_id, worker=worker, now=now, lease=timedelta(seconds=settings.email_lease_seconds)
        )
        if claim is None:
            return None
        message = outbox_repository.get(session, message_id)
        assert message is not None
        session.refresh(message)
        recipients = tuple(message.recipients) or tuple(settings.alert_recipients)
        return Outgoing(
            id=message.id,
            key=message.key,
            recipients=recipients,
            subject=message.subject,
            text_body=message.text_body,
            html_body=message.html_body,
            attempt_id=claim.attempt_id,
            attempt_number=claim.attempt,
            resend=claim.resend,
            request_id=message.request_id,
        )

    def record_sent(
        self, session: Session, outgoing: Outgoing, *, now: datetime, actor: str, refused: dict[str, Any]
    ) -> None:
        """The server accepted the message: the attempt and the message are marked sent."""
        note = f"refused by the server: {', '.join(sorted(refused))}" if refused else None
        if EMAIL_OUTBOX.succeed(session, _claim_of(outgoing), now=now, note=note):
            audit.record(
                session,
                actor=actor,
                action="email.sent",
                subject_type="email",
                subject_id=outgoing.id,
                details={"key": outgoing.key, "attempt": outgoing.attempt_number, "resend": outgoing.resend},
            )

    def record_failure(
        self,
        session: Session,
        outgoing: Outgoing,
        *,
        worker: str,
        now: datetime,
        error: str,
        settings: Settings,
    ) -> datetime:
        """The send failed: the attempt says why and the message waits for its next try (never lost,
        never marked sent). Returns when it will be retried."""
        policy = retry_policy(settings)
        EMAIL_OUTBOX.fail(
            session, _claim_of(outgoing), worker=worker, now=now, error=error[:2000], policy=policy
        )
        return now + policy.backoff(outgoing.attempt_number)

    def get(self, session: Session, message_id: int) -> EmailMessage | None:
        return outbox_repository.get(session, message_id)

    def by_key(self, session: Session, key: str) -> EmailMessage | None:
        return outbox_repository.by_key(session, key)

    def attempts(self, session: Session, message_id: int) -> list[EmailAttempt]:
        return outbox_repository.attempts_of(session, message_id)

    def list(self, session: Session, *, state: str | None = None, limit: int = 100) -> list[EmailMessage]:
        return outbox_repository.list(session, state=state, limit=limit)


outbox = OutboxService()
