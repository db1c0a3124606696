"""Counter-notices (DMCA 512(g)) against a notice's removal, with their restore window and outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class CounterNoticeState(StrEnum):
    # Waiting for the restore window; the claimant may report a court action meanwhile.
    WAITING = "waiting"
    RESTORED = "restored"
    COURT_ACTION = "court_action"


class CounterNotice(TimestampMixin, Base):
    __tablename__ = "counter_notices"
    __table_args__ = (Index("ix_counter_notices_state_restore_from", "state", "restore_from", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_reference: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    # The statutory elements as given (signature, material, statements, contact).
    elements: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(12), default=CounterNoticeState.WAITING)
    received_at: Mapped[datetime]
    # Not before / by: the end of the 10th and 14th business day (regime calendar).
    restore_from: Mapped[datetime]
    restore_by: Mapped[datetime]
    window_alerted_at: Mapped[datetime | None] = mapped_column(default=None)
    court_action_at: Mapped[datetime | None] = mapped_column(default=None)
    court_action_note: Mapped[str | None] = mapped_column(Text, default=None)
    restored_at: Mapped[datetime | None] = mapped_column(default=None)
    filed_by: Mapped[str] = mapped_column(String(200))
    closed_by: Mapped[str | None] = mapped_column(String(200), default=None)
