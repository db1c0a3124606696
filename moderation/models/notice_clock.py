"""One statutory or internal clock of a notice, as computed from its regime version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class NoticeClock(Base):
    __tablename__ = "notice_clocks"
    __table_args__ = (
        UniqueConstraint("notice_id", "regime", "clock", name="uq_notice_clocks_notice_id_regime_clock"),
        Index("ix_notice_clocks_regime_notice_id", "regime", "notice_id"),
        # The alert scan: clocks whose next threshold time has come (only running clocks carry one).
        Index(
            "ix_notice_clocks_next_alert_at",
            "next_alert_at",
            postgresql_where=text("next_alert_at IS NOT NULL"),
            sqlite_where=text("next_alert_at IS NOT NULL"),
        ),
        # The queue filtered by regime: one row per (open notice, regime) carries the notice's due time.
        Index(
            "ix_notice_clocks_regime_queue",
            "regime",
            "queue_due_at",
            "notice_id",
            postgresql_where=text("in_queue"),
            sqlite_where=text("in_queue"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    regime: Mapped[str] = mapped_column(String(100))
    regime_version: Mapped[str] = mapped_column(String(50))
    clock: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    # What the clock asks for: "acknowledgement", "status_update", "decision" or "removal".
    step: Mapped[str] = mapped_column(String(20), default="removal", server_default="removal")
    trigger: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    pausable: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    next_alert_at: Mapped[datetime | None] = mapped_column(default=None)
    next_alert_threshold: Mapped[float | None] = mapped_column(Float, default=None)
    last_alert_threshold: Mapped[float | None] = mapped_column(Float, default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)
    met: Mapped[bool | None] = mapped_column(Boolean, default=None)
    # Set on the first clock of each regime while the notice is open: the notice's due time, so the
    # regime-filtered queue is an index range scan instead of a semi-join over every open notice.
    in_queue: Mapped[bool] = mapped_column(Boolean, default=False)
    queue_due_at: Mapped[datetime | None] = mapped_column(default=None)
