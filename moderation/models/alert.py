"""Deadline alerts: one row per (notice, regime, clock, threshold), so no alert can be decided twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint(
            "notice_id", "regime", "clock_id", "threshold", name="uq_alerts_notice_regime_clock_threshold"
        ),
        Index("ix_alerts_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    clock_id: Mapped[str] = mapped_column(String(50))
    # A fraction of the clock as text ("0.5", "0.75", "0.9") or "breach".
    threshold: Mapped[str] = mapped_column(String(10))
    regime: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime]
    crossed_at: Mapped[datetime]
    decided_at: Mapped[datetime]
    email_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_messages.id", ondelete="SET NULL"), default=None
    )
