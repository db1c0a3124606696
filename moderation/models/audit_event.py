"""The audit log: append-only (database triggers), hash-chained (each row seals the previous one)
and keyed (each hash carries a MAC under a key kept outside the database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_action", "action"),
    )

    # Assigned by the audit service under the chain lock (1, 2, 3 ...): a gap means a deleted event.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The HTTP request (or job run) that made the change; part of the hash when present.
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # HMAC-SHA256 of `hash` under the audit key (settings), which the database never holds: a chain
    # re-sealed by someone with write access to this table fails on its MACs. NULL: written before keys.
    mac: Mapped[str | None] = mapped_column(String(64), default=None)
