"""CyberTipline report cases: one per child-safety match or notice, confirmed by a reporter, filed once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class CaseState(StrEnum):
    """open -> confirmed -> filed; open -> dismissed; confirmed -> failed (an API refusal) -> confirmed."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    FILED = "filed"
    DISMISSED = "dismissed"


class ReportCase(TimestampMixin, Base):
    __tablename__ = "report_cases"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_report_cases_source_source_id"),
        Index("ix_report_cases_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    # check | notice: what opened the case (one case per source).
    source: Mapped[str] = mapped_column(String(10))
    source_id: Mapped[str] = mapped_column(String(100))
    incident_type: Mapped[str] = mapped_column(String(100))
    incident_at: Mapped[datetime]
    # The reported account as the platform supplied it (espIdentifier, screenName, emails, IP events ...).
    account: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urls: Mapped[list[Any]] = mapped_column(default=list)
    additional_info: Mapped[str | None] = mapped_column(Text, default=None)
    escalate_reason: Mapped[str | None] = mapped_column(Text, default=None)
    opened_by: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # test | production: the CyberTipline environment the report went (or goes) to.
    environment: Mapped[str | None] = mapped_column(String(12), default=None)
    # Submission progress, persisted after every API call so a crashed run resumes without a duplicate.
    ncmec_report_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The API call under way ("submit", "upload:<file id>", "fileinfo:<file id>", "finish"); set before
    # the call and cleared once its answer is stored, so a run that finds it set knows the outcome is unknown.
    pending_step: Mapped[str | None] = mapped_column(String(40), default=None)
    report_xml: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    retracted_report_ids: Mapped[list[Any]] = mapped_column(default=list)
    last_error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    filed_at: Mapped[datetime | None] = mapped_column(default=None)
    # 18 U.S.C. 2258A(h): preserve the report's contents one year from filing (longer on a legal hold).
    preserve_until: Mapped[datetime | None] = mapped_column(default=None)
    legal_hold_until: Mapped[datetime | None] = mapped_column(default=None)
    legal_hold_note: Mapped[str | None] = mapped_column(Text, default=None)
    # A law-enforcement request to destroy (2258B(c)): recorded, then carried out by the purge job.
    destruction_request: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    dismissed_reason: Mapped[str | None] = mapped_column(Text, default=None)
