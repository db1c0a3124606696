"""Every SMTP delivery attempt of an outbox message, including those a dead worker left unfinished."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class EmailAttempt(Base):
    __tablename__ = "email_attempts"
    __table_args__ = (UniqueConstraint("message_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("email_messages.id", ondelete="CASCADE"))
    number: Mapped[int]
    worker: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # None while in flight; sent | failed | abandoned (its worker's lease ran out before it reported).
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
