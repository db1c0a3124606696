"""Multi-index keys of a content item's PDQ hash: the SQL prefilter for near-duplicate search."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class ContentPDQKey(Base):
    """One of the 16 keys of a PDQ hash: `key = segment << 16 | the segment's 16 bits`."""

    __tablename__ = "content_pdq_keys"

    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
