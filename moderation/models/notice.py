"""Takedown notices: one row per notice, with its state, regimes, reporter and queue keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class NoticeState(StrEnum):
    """Where a notice is in its life; the transitions between them are in moderation/takedown/states.py."""

    RECEIVED = "received"
    NEEDS_INFO = "needs_info"
    VALIDATED = "validated"
    ACTIONED = "actioned"
    APPEALED = "appealed"
    COUNTER_NOTICED = "counter_noticed"
    RESTORED = "restored"
    CLOSED = "closed"
    REJECTED = "rejected"


OPEN_STATES = (NoticeState.RECEIVED, NoticeState.NEEDS_INFO, NoticeState.VALIDATED)


class Notice(TimestampMixin, Base):
    __tablename__ = "notices"
    __table_args__ = (
        # The due-time queue of open notices: ORDER BY due_at NULLS LAST, id with keyset paging.
        Index(
            "ix_notices_open_queue",
            "due_at",
            "id",
            postgresql_where=text("state IN ('received', 'needs_info', 'validated')"),
            sqlite_where=text("state IN ('received', 'needs_info', 'validated')"),
        ),
        Index("ix_notices_state_due_at", "state", "due_at", "id"),
        Index("ix_notices_assignee", "assignee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The submitter's idempotency key: a retried submission returns the notice stored first.
    client_reference: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    state: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    # [{"id", "version", "missing": [...], "completed_at"}] per regime the notice names.
    regimes: Mapped[list[Any]] = mapped_column()
    reporter: Mapped[dict[str, Any]] = mapped_column()
    statements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw_submission: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime]
    served_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    child_safety: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(64))
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    state_changed_at: Mapped[datetime]
    actioned_at: Mapped[datetime | None] = mapped_column(default=None)
    actioned_by: Mapped[str | None] = mapped_column(String(200), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    sweep_ran_at: Mapped[datetime | None] = mapped_column(default=None)
    sweep_result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
