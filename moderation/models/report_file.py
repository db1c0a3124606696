"""A file of a report case: its hashes, what the platform knew of its upload, and the encrypted bytes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ReportFile(TimestampMixin, Base):
    __tablename__ = "report_files"
    __table_args__ = (
        Index("ix_report_files_case_id", "case_id"),
        Index("ix_report_files_sha256", "sha256"),
        Index("ix_report_files_md5", "md5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("report_cases.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str | None] = mapped_column(String(32), default=None)
    pdq: Mapped[str | None] = mapped_column(String(64), default=None)
    media_type: Mapped[str] = mapped_column(String(10), default="image")
    size: Mapped[int | None] = mapped_column(default=None)
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    uploader_id: Mapped[str | None] = mapped_column(String(200), default=None)
    original_file_name: Mapped[str | None] = mapped_column(String(2056), default=None)
    uploaded_at: Mapped[datetime | None] = mapped_column(default=None)
    upload_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    location_url: Mapped[str | None] = mapped_column(String(2083), default=None)
    # Fernet token (the evidence key); None when never held, or after the preservation ended / destruction.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The first person who opened the whole file through the case; the report's fileViewedByEsp is
    # true exactly when this is set.
    viewed_at: Mapped[datetime | None] = mapped_column(default=None)
    viewed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    ncmec_file_id: Mapped[str | None] = mapped_column(String(200), default=None)
    ncmec_md5: Mapped[str | None] = mapped_column(String(64), default=None)
    details_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
