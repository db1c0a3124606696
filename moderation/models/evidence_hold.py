"""Holds on evidence: while any hold is active (no end, or an end in the future) nothing is purged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class EvidenceHold(TimestampMixin, Base):
    __tablename__ = "evidence_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id", ondelete="CASCADE"), index=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    # "case" (while the notice is open), "regime:<id>" (preservation period), "child_safety", "legal"
    kind: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
