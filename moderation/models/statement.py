"""Statements of reasons (DSA Art. 17): one immutable row per restriction decided or recorded.

Append-only in the database (triggers reject UPDATE and DELETE); the submission state lives in
`statement_submissions`. `payload` is exactly what goes to the Transparency Database (no personal data).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class Statement(TimestampMixin, Base):
    __tablename__ = "statements"
    __table_args__ = (
        Index("ix_statements_content_id", "content_id"),
        Index("ix_statements_created_at", "created_at"),
        Index("ix_statements_notice_id", "notice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The platform-unique id sent to the database: never reused, the submission's idempotency key.
    puid: Mapped[str] = mapped_column(String(100), unique=True)
    # One statement per restriction: "check-<id>/<content>", "notice-content-<id>/remove" ...
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    # check_block | review_hold | notice_removal | stay_down_block | reversal
    kind: Mapped[str] = mapped_column(String(30))
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"), default=None)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None)
    notice_content_id: Mapped[int | None] = mapped_column(ForeignKey("notice_contents.id"), default=None)
    # A reversal (or a reviewer's decision after a hold) points at the statement it follows.
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), default=None)
    # The mapping that chose category and ground ("check_findings[3]", "notices.us-dmca" ...).
    basis: Mapped[str] = mapped_column(String(100))
    # Copies of payload fields that the transparency report groups by.
    category: Mapped[str] = mapped_column(String(80))
    decision_ground: Mapped[str] = mapped_column(String(60))
    source_type: Mapped[str] = mapped_column(String(40))
    automated_detection: Mapped[str] = mapped_column(String(3))
    automated_decision: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # Redress options shown to the user (Art. 17(3)(f)); not submitted.
    redress: Mapped[dict[str, Any]] = mapped_column()
    policy_version: Mapped[str] = mapped_column(String(64))
