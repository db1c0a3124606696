"""Request and response bodies of the takedown API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Channel = Literal["form", "api", "email", "post"]
# One address: a local part and a dotted domain, no spaces, no second @ (RFC 5322's quoted forms aside).
EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f.]+(?:\.[^@\s\x00-\x1f.]+)+")


class Reporter(BaseModel):
    """Who sent the notice. Extra keys (address, phone, organisation...) are kept as sent."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=320, examples=["reporter@example.org"])
    contact: str | None = Field(default=None, max_length=2000, description="Other contact details.")

    @field_validator("email")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        # Replies (acknowledgements, decisions) go to this address: refuse what cannot be one.
        if value is not None and not EMAIL.fullmatch(value):
            raise ValueError("not an email address (expected name@domain.tld)")
        return value


class ContentRefs(BaseModel):
    content_ids: list[str] = Field(default_factory=list, max_length=1000)
    urls: list[str] = Field(default_factory=list, max_length=1000)
    image_base64: str | None = Field(
        default=None, description="An uploaded copy of the image, base64 (standard alphabet)."
    )


class NoticeCreate(BaseModel):
    """A notice as submitted. Unknown top-level keys are kept in the stored raw submission."""

    model_config = ConfigDict(extra="allow")

    regimes: list[str] = Field(min_length=1, max_length=20)
    client_reference: str | None = Field(
        default=None, max_length=200, description="Idempotency key: a resubmission returns the first notice."
    )
    channel: Channel = "api"
    received_at: datetime | None = Field(
        default=None,
        description="First receipt (ISO 8601 with offset); default now. Earlier times are audited.",
    )
    served_at: datetime | None = Field(default=None, description="An order's receipt at the contact point.")
    reporter: Reporter = Field(default_factory=Reporter)
    content: ContentRefs = Field(default_factory=ContentRefs)
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Statements and fields that apply to every regime (signature, ...)."
    )
    statements: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-regime statements and signature, keyed by regime id."
    )
    child_safety: bool = False


class Reason(BaseModel):
    reason: str | None = Field(default=None, max_length=5000)


class RequiredReason(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)


class Assign(BaseModel):
    assignee: str | None = Field(max_length=200, description="Reviewer name; null unassigns.")


class SupplyInfo(BaseModel):
    fields: dict[str, Any] = Field(default_factory=dict)
    statements: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reason: str | None = None


class PauseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=100, description="One of the regime's pause_reasons.")
    note: str | None = Field(default=None, max_length=5000)


class StepRequest(BaseModel):
    step: Literal["acknowledgement", "status_update", "decision"] = Field(
        description="What was done: receipt confirmed to the reporter, a status update sent, a decision made."
    )
    note: str | None = Field(default=None, max_length=5000)


class QueueItem(BaseModel):
    id: int
    state: str
    regimes: list[str]
    channel: str
    received_at: datetime
    due_at: datetime | None
    time_remaining_seconds: float | None
    overdue: bool
    due_soon: bool = Field(
        default=False, description="past the first alert threshold of a running clock, not yet overdue"
    )
    assignee: str | None
    missing_fields: dict[str, list[str]]


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None


class ReceiptRegime(BaseModel):
    id: str
    version: str
    missing: list[str]
    completed_at: str | None


class NoticeReceipt(BaseModel):
    """What an intake (reporter) key gets back: the notice's standing and what it still lacks."""

    id: int
    client_reference: str | None
    state: str
    channel: str
    received_at: datetime
    missing_fields: dict[str, list[str]]
    regimes: list[ReceiptRegime]
    due_at: datetime | None
    overdue: bool
    created: bool | None = None


class NoticeOut(BaseModel):
    """A notice with everything a reviewer needs: clocks, content, copies, deliveries, duties, timeline."""

    id: int
    state: str
    state_reason: str | None
    client_reference: str | None
    channel: str
    regimes: list[dict[str, Any]]
    missing_fields: dict[str, list[str]]
    reporter: dict[str, Any]
    statements: dict[str, Any]
    received_at: datetime
    served_at: datetime | None
    due_at: datetime | None
    time_remaining_seconds: float | None
    overdue: bool
    child_safety: bool
    assignee: str | None
    policy_version: str
    created_by: str
    actioned_at: datetime | None
    closed_at: datetime | None
    clocks: list[dict[str, Any]]
    pauses: list[dict[str, Any]]
    steps: list[dict[str, Any]] = []
    content: list[dict[str, Any]]
    copies: list[dict[str, Any]]
    sweep: dict[str, Any] | None
    duties: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    created: bool | None = None
