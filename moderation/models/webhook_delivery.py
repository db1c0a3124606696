"""Outbox of platform actions and events (remove, restore, reporter notices): one row per idempotency key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.kit.request_context import current_request_id
from moderation.models.base import Base, TimestampMixin


class WebhookDelivery(TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_webhook_deliveries_idempotency_key"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Both empty for events not about a notice's content (an appeal's restore, a reporter event).
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    notice_content_id: Mapped[int | None] = mapped_column(
        ForeignKey("notice_contents.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(20))
    # "notice-<id>/content-<ref id>/<action>": the receiver deduplicates on it.
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # pending | sending | delivered | failed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # The request that enqueued this action; the delivery logs under it.
    request_id: Mapped[str | None] = mapped_column(String(64), default=current_request_id)
