"""A later match of an already reported (or case-held) file: linked to the earlier case, not a new one."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ReportLink(TimestampMixin, Base):
    __tablename__ = "report_links"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_report_links_source_source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("report_cases.id"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    source_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    uploader_id: Mapped[str | None] = mapped_column(String(200), default=None)
