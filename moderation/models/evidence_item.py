"""Preserved evidence of removed content: hashes, metadata and the uploaded bytes (encrypted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class EvidenceItem(TimestampMixin, Base):
    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    notice_content_id: Mapped[int | None] = mapped_column(
        ForeignKey("notice_contents.id", ondelete="SET NULL"), default=None
    )
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Fernet token of the uploaded bytes; None when the service never held them or after a purge.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
