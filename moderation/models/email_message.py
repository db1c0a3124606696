"""The email outbox: one row per email, written in the transaction that decides it, sent by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.kit.request_context import current_request_id
from moderation.kit.time import utc_now
from moderation.models.base import Base, TimestampMixin


class EmailMessage(TimestampMixin, Base):
    __tablename__ = "email_messages"
    __table_args__ = (Index("ix_email_messages_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deterministic dedup key ("alert:12:removal:0.5", "digest:ncii:2026-11-23"): a second enqueue is a no-op.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Empty means "the default list (MODERATION_ALERT_TO) at delivery time".
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # pending -> sending (claimed, lease running) -> sent; a failed attempt goes back to pending.
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The request that decided this email (None for scheduled scans); the delivery logs under it.
    request_id: Mapped[str | None] = mapped_column(String(64), default=current_request_id)
