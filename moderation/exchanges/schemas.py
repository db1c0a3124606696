"""Request and response bodies of the exchanges API (also what the service returns)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ExchangeType(StrEnum):
    ncmec = "ncmec"
    stopncii = "stopncii"
    tat = "tat"
    threatexchange = "threatexchange"
    file = "file"


class FeedbackState(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"


class ExchangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    type: ExchangeType
    bank: str = Field(
        max_length=100,
        description="Bank it fills; created if missing (review-action when "
        "review_only or confirmations_required > 0, block otherwise).",
    )
    signal_types: list[str] | None = Field(
        default=None, max_length=3, description="pdq, video_md5; ncmec also image_md5 (default: all)"
    )
    enabled: bool = True
    review_only: bool = False
    feedback_enabled: bool = False
    confirmations_required: int = Field(default=0, ge=0, le=100)
    promote_to: str | None = Field(default=None, max_length=100)
    environment: str | None = Field(
        default=None, max_length=60, description="NCMEC environment (Industry ...)"
    )
    only_esp_ids: list[int] | None = Field(default=None, max_length=1000)
    privacy_group: int | None = Field(default=None, description="ThreatExchange privacy group id")
    filename: str | None = Field(default=None, max_length=1000, description="file: the signal file's path")
    base_url: str | None = Field(default=None, max_length=500)


class ExchangeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    feedback_enabled: bool | None = None


class ExchangeCounts(BaseModel):
    records: int
    reviewed: int
    confirmations: int
    overturns: int
    records_seen: int
    entries_added: int
    entries_removed: int


class Exchange(BaseModel):
    name: str
    type: ExchangeType
    bank: str
    promote_to: str | None
    signal_types: list[str]
    enabled: bool
    feedback_enabled: bool
    confirmations_required: int
    config: dict[str, Any]
    created_at: datetime


class ExchangeStatus(Exchange):
    checkpoint: dict[str, Any] | None
    progress_at: datetime | None = Field(description="The time the checkpoint covers, when the exchange says")
    fetching: bool
    last_fetch_started_at: datetime | None
    last_fetch_at: datetime | None
    last_error: str | None
    counts: ExchangeCounts
    feedback: dict[str, int]


class ExchangePage(BaseModel):
    items: list[Exchange]
    next_cursor: str | None


class ExchangeRecord(BaseModel):
    id: int
    record_key: str
    signal_type: str
    hash_type: str
    value: str
    entry_id: int
    opinions: list[dict[str, Any]]
    summary: str | None
    first_fetched_at: datetime
    fetched_at: datetime
    reviewed: int
    confirmations: int
    overturns: int
    promoted: bool


class ExchangeRecordPage(BaseModel):
    items: list[ExchangeRecord]
    next_cursor: str | None


class Feedback(BaseModel):
    id: int
    record_key: str
    signal_type: str
    value: str
    opinion: str
    origin: str
    state: FeedbackState
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class FeedbackPage(BaseModel):
    items: list[Feedback]
    next_cursor: str | None


class FetchReport(BaseModel):
    exchange: str
    pages: int = 0
    records: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    invalid: int = 0
    complete: bool = False
    error: str | None = None
