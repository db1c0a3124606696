"""Shapes of the statements API: a statement of reasons as the platform shows it to its user."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StatementKind(StrEnum):
    """The restriction a statement records."""

    CHECK_BLOCK = "check_block"
    REVIEW_HOLD = "review_hold"
    NOTICE_REMOVAL = "notice_removal"
    STAY_DOWN_BLOCK = "stay_down_block"
    REVERSAL = "reversal"


class SubmissionState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SUBMITTED = "submitted"
    REJECTED = "rejected"


class StatementPayload(BaseModel):
    """The statement exactly as submitted to the DSA Transparency Database (schema v2)."""

    model_config = ConfigDict(extra="forbid")

    decision_visibility: list[str] | None = None
    decision_visibility_other: str | None = None
    decision_monetary: str | None = None
    decision_monetary_other: str | None = None
    decision_provision: str | None = None
    decision_account: str | None = None
    account_type: str | None = None
    decision_ground: str
    decision_ground_reference_url: str | None = None
    illegal_content_legal_ground: str | None = None
    illegal_content_explanation: str | None = None
    incompatible_content_ground: str | None = None
    incompatible_content_explanation: str | None = None
    incompatible_content_illegal: str | None = None
    content_type: list[str]
    content_type_other: str | None = None
    category: str
    category_addition: list[str] | None = None
    category_specification: list[str] | None = None
    category_specification_other: str | None = None
    territorial_scope: list[str] | None = None
    content_language: str | None = None
    content_date: str
    application_date: str
    end_date_visibility_restriction: str | None = None
    end_date_monetary_restriction: str | None = None
    end_date_service_restriction: str | None = None
    end_date_account_restriction: str | None = None
    decision_facts: str
    source_type: str
    source_identity: str | None = None
    automated_detection: str
    automated_decision: str
    puid: str
    content_id: dict[str, str] | None = Field(default=None, description='{"EAN-13": "<13 digits>"}')


class RedressOption(BaseModel):
    text: str
    url: str | None = None


class Redress(BaseModel):
    """How the user can challenge the decision (DSA Art. 17(3)(f))."""

    internal_complaint: RedressOption
    out_of_court: RedressOption
    court: RedressOption


class Submission(BaseModel):
    state: SubmissionState
    attempts: int
    submitted_at: datetime | None = None
    permalink: str | None = None
    last_error: str | None = None
    rejection: dict[str, list[str]] | None = None


class StatementOut(BaseModel):
    """A statement of reasons: what was restricted, why, and how to challenge it."""

    id: int
    puid: str
    kind: StatementKind
    content_id: str | None
    check_id: int | None
    notice_id: int | None
    follows_id: int | None = Field(
        description="The statement this one follows (a reversal points at what it ends)."
    )
    followed_by: list[int] = Field(default_factory=list)
    created_at: datetime
    policy_version: str
    statement: StatementPayload
    redress: Redress
    submission: Submission | None = None


class StatementList(BaseModel):
    items: list[StatementOut]
    content_id: str
    limit: int
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


class EmailRequest(BaseModel):
    """Send the statement to the uploader. The address goes into the email outbox only."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")


class EmailQueued(BaseModel):
    statement_id: int
    queued: bool = Field(description="False when the same statement was already queued for this address.")


class RecordType(StrEnum):
    STATEMENT = "statement"
    NOTICE = "notice"


class ReportRow(BaseModel):
    """One figure of the report and the records behind it (their ids), so it can be checked."""

    key: str
    count: int
    record_type: RecordType
    records: list[int]
    median_hours_to_action: float | None = None


class ReportSection(BaseModel):
    name: str
    title: str
    rows: list[ReportRow]


class TransparencyReport(BaseModel):
    """Counts for DSA Arts. 15 and 24 over a period of days (UTC, both days included)."""

    period_from: date
    period_to: date
    generated_at: datetime
    policy_version: str
    restrictions: int
    sections: list[ReportSection]
    complaints: str = Field(description="Complaint handling figures, once complaints are recorded here.")

    def section(self, name: str) -> ReportSection:
        return next(s for s in self.sections if s.name == name)
