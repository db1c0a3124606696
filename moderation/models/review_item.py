"""An item in the review queue: a check decided `review`, waiting for (or holding) a reviewer's verdict."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ReviewItem(TimestampMixin, Base):
    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "state", "risk", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"), unique=True)
    # open -> allowed | blocked; open -> escalated -> allowed | blocked
    state: Mapped[str] = mapped_column(String(20), default="open")
    risk: Mapped[float]
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    added_to_bank: Mapped[str | None] = mapped_column(String(100), default=None)
