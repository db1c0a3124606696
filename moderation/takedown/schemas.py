"""Request and response bodies of the takedown API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from moderation.kit.schemas import OmitNone

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
    assignee: str | None
    missing_fields: dict[str, list[str]]
    due_soon: bool = Field(
        default=False, description="past the first alert threshold of a running clock, not yet overdue"
    )


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None


# Values a reporter or an operator typed in (statements, reporter details, audit details): any JSON.
Submitted = dict[str, JsonValue]


class NoticeRegime(BaseModel):
    """A regime the notice was received under: its version in force at receipt, the fields it still
    needs and when the last one arrived (ISO 8601, UTC)."""

    id: str
    version: str
    missing: list[str]
    completed_at: str | None


class ReceiptRegime(NoticeRegime):
    """A regime as a reporter's receipt shows it."""


class StayDownCoverage(BaseModel):
    """What the stay-down bank holds for an item: `image` (robust variants too), `hashes` (exact
    hashes only), `none`, or `pending` (not removed yet); `entries` is the number of bank entries."""

    covers: str
    entries: int


class ReceiptContent(BaseModel):
    """A reported item as its submitter sees it."""

    id: int
    ref: str
    content_id: str | None
    url: str | None
    state: str
    stay_down: StayDownCoverage


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
    content: list[ReceiptContent] = Field(
        default_factory=list, description="the reported items, with the id to attach an image to"
    )


class ClockOut(BaseModel):
    regime: str
    regime_version: str
    clock: str
    kind: str
    trigger: str
    starts_at: datetime | None
    due_at: datetime | None
    reason: str | None
    pausable: bool
    paused: bool
    paused_seconds: float
    next_alert_at: datetime | None
    next_alert_threshold: float | None
    stopped_at: datetime | None
    met: bool | None
    step: str = "removal"


class PauseOut(BaseModel):
    reason: str
    note: str | None
    started_at: datetime
    started_by: str
    ended_at: datetime | None
    ended_by: str | None


class ContentOut(BaseModel):
    """A reported item (`source` reported) or a copy the sweep found (identical_copy, near_duplicate)."""

    id: int
    ref: str
    content_id: str | None
    url: str | None
    source: str
    state: str
    sha256: str | None
    pdq: str | None
    distance: int | None
    note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    stay_down: StayDownCoverage


class SweepSearch(BaseModel):
    ref: str
    sha256: str | None
    pdq: str | None


class SweepCopy(OmitNone):
    content_id: str
    distance: int
    action: str
    reviewed_by: str | None = None


class SweepOut(BaseModel):
    """What the copy sweep searched for and found when the notice was actioned."""

    ran_at: str
    searched: list[SweepSearch]
    identical: list[SweepCopy]
    near_duplicates: list[SweepCopy]
    stay_down_hashes_added: int
    errors: list[str]


class DutyOut(BaseModel):
    regime: str
    scope: str
    met: bool


class AttemptOut(BaseModel):
    attempt: int
    outcome: str | None
    status_code: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class DeliveryOut(BaseModel):
    """One platform action in the webhook outbox, with every attempt."""

    id: int
    action: str
    content_ref: str | None
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    history: list[AttemptOut]


class HoldOut(BaseModel):
    kind: str
    until: datetime | None
    released_at: datetime | None


class EvidenceOut(BaseModel):
    """A preserved evidence item (never its bytes): hashes, what it is, and the holds that keep it."""

    id: int
    sha256: str | None
    # A video's evidence also holds its frame hashes under `video_frames`: [frame, PDQ, quality,
    # seconds, {variant: PDQ}] each.
    hashes: dict[str, str | int | float | list[list[int | str | float | dict[str, str]]] | None]
    details: dict[str, str | int | None]
    encrypted_bytes: bool
    purged_at: datetime | None
    holds: list[HoldOut]


class TimelineEvent(BaseModel):
    """An audit event about the notice."""

    at: datetime
    actor: str
    action: str
    details: Submitted | None


class StepOut(BaseModel):
    """A step of a multi-step regime recorded on the notice (acknowledgement, status update, decision)."""

    step: str
    recorded_at: datetime
    recorded_by: str
    note: str | None


class NoticeOut(BaseModel):
    """A notice with everything a reviewer needs: clocks, content, copies, deliveries, duties, timeline."""

    id: int
    state: str
    state_reason: str | None
    client_reference: str | None
    channel: str
    regimes: list[NoticeRegime]
    missing_fields: dict[str, list[str]]
    reporter: Submitted
    statements: dict[str, Submitted]
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
    clocks: list[ClockOut]
    pauses: list[PauseOut]
    steps: list[StepOut] = []
    content: list[ContentOut]
    copies: list[ContentOut]
    sweep: SweepOut | None
    duties: list[DutyOut]
    deliveries: list[DeliveryOut]
    evidence: list[EvidenceOut]
    timeline: list[TimelineEvent]
    created: bool | None = None
