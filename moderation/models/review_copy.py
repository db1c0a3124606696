"""An encrypted copy of the image bytes of a review item, kept only while a reviewer may need to see it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ReviewCopy(TimestampMixin, Base):
    __tablename__ = "review_copies"
    __table_args__ = (Index("ix_review_copies_delete_after", "delete_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    # Fernet token (the takedown evidence key); the plain bytes are never stored.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # Set when the item is blocked: the purge job deletes the copy after this time.
    delete_after: Mapped[datetime | None] = mapped_column(default=None)
