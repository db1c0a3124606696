"""Steps a notice's clocks wait for, as they happen: an acknowledgement or a status update sent to the
reporter, a decision recorded. Append-only: each row is one event, with who recorded it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class NoticeStep(Base):
    __tablename__ = "notice_steps"
    __table_args__ = (Index("ix_notice_steps_notice_id_step", "notice_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    # "acknowledgement", "status_update" or "decision" (a removal is the notice's own action).
    step: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text, default=None)
