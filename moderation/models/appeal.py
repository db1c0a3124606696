"""Appeals (complaints) against a decision: a pre-publish or stay-down block of a check, the removal
of a notice's content (by the uploader) or the rejection of a notice (by its reporter)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class AppealState(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class Appeal(TimestampMixin, Base):
    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_state_due_at", "state", "due_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The filing platform's idempotency key: a retried filing returns the appeal stored first.
    client_reference: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    # check_block | stay_down_block | notice_action | notice_rejection
    kind: Mapped[str] = mapped_column(String(20))
    check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"), default=None, index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None, index=True)
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # uploader | reporter
    appellant_role: Mapped[str] = mapped_column(String(10))
    appellant: Mapped[dict[str, Any]] = mapped_column()
    statement: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default=AppealState.OPEN)
    decided_at_original: Mapped[datetime]
    # Who took the decision appealed against (None when it was automated); may not decide the appeal.
    original_decider: Mapped[str | None] = mapped_column(String(200), default=None)
    filed_at: Mapped[datetime]
    due_at: Mapped[datetime]
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(default=None)
    filed_by: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # What an overturn did: webhook keys, stay-down entries lifted, allow-list entries, registry rows.
    reversal: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    policy_version: Mapped[str] = mapped_column(String(64))
