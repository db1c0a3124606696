"""Content items of a notice: what the reporter named and the copies the sweep found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class NoticeContent(TimestampMixin, Base):
    __tablename__ = "notice_contents"
    __table_args__ = (
        UniqueConstraint("notice_id", "ref", name="uq_notice_contents_notice_id_ref"),
        Index("ix_notice_contents_content_id", "content_id"),
        Index("ix_notice_contents_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    # Unique within the notice: "content:<id>", "url:<url>" or "upload:<sha256>".
    ref: Mapped[str] = mapped_column(String(600))
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    # reported | identical_copy | near_duplicate
    source: Mapped[str] = mapped_column(String(20))
    # pending | removed | review | dismissed | restored | not_found
    state: Mapped[str] = mapped_column(String(20), default="pending")
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    pdq: Mapped[str | None] = mapped_column(String(64), default=None)
    distance: Mapped[int | None] = mapped_column(Integer, default=None)
    found_from: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # Top-level `stay-down` bank entries this item added, disabled again when the notice is restored.
    stay_down_entry_ids: Mapped[list[Any] | None] = mapped_column(default=None)
    # A near-duplicate's review decision (remove or dismiss): who, when and why.
    reviewed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_reason: Mapped[str | None] = mapped_column(Text, default=None)
