"""The email outbox: enqueue in the caller's transaction, then claim, send and record each attempt.

Lifecycle of a message: `enqueue` inserts it as *pending* (a second enqueue with the same key does
nothing); the delivery job `claim`s it (conditional UPDATE to *sending* with a lease, plus an attempt
row, committed before any SMTP traffic); after talking to the server it calls `record_sent` or
`record_failure` (back to *pending* with an exponential backoff). A worker that dies mid-send leaves
the message *sending*; once its lease runs out another claim closes the old attempt as *abandoned*
and sends it again, with the same Message-ID so the resend can be recognised.
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
from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage

ABANDONED = "the worker's lease ran out before it reported; the server may or may not have the message"


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


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """Exponential backoff: base, 2x base, 4x base ... capped at the maximum."""
    seconds = settings.email_retry_base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.email_retry_max_seconds))


class OutboxService:
    def render(self, template: str, **context: Any) -> str:
        """Render `moderation/email/templates/<template>` (HTML autoescaped)."""
        return _templates().get_template(template).render(**context)

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
        return outbox_repository.due_ids(session, now, limit)

    def claim(
        self, session: Session, message_id: int, *, worker: str, now: datetime, settings: Settings
    ) -> Outgoing | None:
        """Claim one message for `worker` and open its attempt; None if another worker has it.
        The caller commits before sending, so the claim and the attempt survive a crash."""
        lease_until = now + timedelta(seconds=settings.email_lease_seconds)
        if not outbox_repository.claim(session, message_id, worker, now, lease_until):
            return None
        resend = outbox_repository.abandon_open_attempts(session, message_id, now, ABANDONED) > 0
        message = outbox_repository.get(session, message_id)
        assert message is not None
        session.refresh(message)
        attempt = outbox_repository.add_attempt(
            session,
            EmailAttempt(message_id=message.id, number=message.attempts, worker=worker, started_at=now),
        )
        recipients = tuple(message.recipients) or tuple(settings.alert_recipients)
        return Outgoing(
            id=message.id,
            key=message.key,
            recipients=recipients,
            subject=message.subject,
            text_body=message.text_body,
            html_body=message.html_body,
            attempt_id=attempt.id,
            attempt_number=attempt.number,
            resend=resend,
            request_id=message.request_id,
        )

    def record_sent(
        self, session: Session, outgoing: Outgoing, *, now: datetime, actor: str, refused: dict[str, Any]
    ) -> None:
        """The server accepted the message: the attempt and the message are marked sent."""
        note = f"refused by the server: {', '.join(sorted(refused))}" if refused else None
        outbox_repository.finish_attempt(session, outgoing.attempt_id, "sent", now, note)
        if outbox_repository.mark_sent(session, outgoing.id, now):
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
        retry_at = now + retry_delay(outgoing.attempt_number, settings)
        outbox_repository.finish_attempt(session, outgoing.attempt_id, "failed", now, error[:2000])
        outbox_repository.release_for_retry(session, outgoing.id, worker, retry_at, error[:2000])
        return retry_at

    def get(self, session: Session, message_id: int) -> EmailMessage | None:
        return outbox_repository.get(session, message_id)

    def by_key(self, session: Session, key: str) -> EmailMessage | None:
        return outbox_repository.by_key(session, key)

    def attempts(self, session: Session, message_id: int) -> list[EmailAttempt]:
        return outbox_repository.attempts_of(session, message_id)

    def list(self, session: Session, *, state: str | None = None, limit: int = 100) -> list[EmailMessage]:
        return outbox_repository.list(session, state=state, limit=limit)


outbox = OutboxService()
