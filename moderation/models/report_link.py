"""A later match of an already reported (or case-held) file: linked to the earlier case, not a new one."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ReportLink(TimestampMixin, Base):
    __tablename__ = "report_links"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_report_links_source_source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("report_cases.id"), index=True)
    # check: a later check (or cached answer) of the file; source_id keys the upload (file, content id,
    # uploader), so one upload is linked once however often it is checked.
    source: Mapped[str] = mapped_column(String(10))
    source_id: Mapped[str] = mapped_column(String(100))
    check_id: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    uploader_id: Mapped[str | None] = mapped_column(String(200), default=None)
