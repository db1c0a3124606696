"""Submission of each statement to the DSA Transparency Database: state, attempts, the API's answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class StatementSubmission(TimestampMixin, Base):
    __tablename__ = "statement_submissions"
    __table_args__ = (Index("ix_statement_submissions_state_next_attempt_at", "state", "next_attempt_at"),)

    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    # pending | sending | submitted | rejected
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The API's validation errors of a rejected statement, kept for an operator.
    rejection: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    database_uuid: Mapped[str | None] = mapped_column(String(100), default=None)
    permalink: Mapped[str | None] = mapped_column(String(500), default=None)
