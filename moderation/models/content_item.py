"""The content registry: each platform `content_id` with its hashes and latest decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ContentItem(TimestampMixin, Base):
    __tablename__ = "content_items"
    __table_args__ = (
        UniqueConstraint("content_id", "sha256", name="uq_content_items_content_id_sha256"),
        Index("ix_content_items_sha256", "sha256"),
        Index("ix_content_items_md5", "md5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[str] = mapped_column(String(200))
    uploader_id: Mapped[str | None] = mapped_column(String(200), default=None)
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    pdq: Mapped[str] = mapped_column(String(64))
    pdq_quality: Mapped[int]
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    decision: Mapped[str] = mapped_column(String(10))
    last_checked_at: Mapped[datetime]
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    removal_notice_id: Mapped[str | None] = mapped_column(String(100), default=None)
