"""Request and response shapes of the reporting API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from moderation.reporting.schema import EVENT_NAMES, INCIDENT_TYPES

IncidentType = Literal[INCIDENT_TYPES]  # type: ignore[valid-type]
EventName = Literal[EVENT_NAMES]  # type: ignore[valid-type]
Url = Field(min_length=1, max_length=2083, pattern=r"^https?://\S+$")


class IpEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip_address: str = Field(min_length=1, max_length=64)
    event_name: EventName | None = None
    at: datetime | None = None


class AccountDetails(BaseModel):
    """The reported account, as the platform knows it (all optional)."""

    model_config = ConfigDict(extra="forbid")

    esp_identifier: str | None = Field(default=None, min_length=1, max_length=200)
    screen_name: str | None = Field(default=None, min_length=1, max_length=200)
    display_names: list[str] = Field(default_factory=list, max_length=10)
    emails: list[str] = Field(default_factory=list, max_length=10)
    profile_urls: list[str] = Field(default_factory=list, max_length=10)
    ip_events: list[IpEventIn] = Field(default_factory=list, max_length=50)
    additional_info: str | None = Field(default=None, max_length=3000)

    @field_validator("display_names", "emails")
    @classmethod
    def _short(cls, values: list[str]) -> list[str]:
        if any(not v.strip() or len(v) > 200 for v in values):
            raise ValueError("each value must be 1-200 characters")
        return values

    @field_validator("profile_urls")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        if any(
            len(v) > 2083 or not v.startswith(("http://", "https://")) or any(c.isspace() for c in v)
            for v in values
        ):
            raise ValueError(
                "each profile URL must be an http(s) URL without whitespace, at most 2083 characters"
            )
        return values


class CaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_type: IncidentType | None = None
    incident_at: datetime | None = None
    urls: list[str] | None = Field(default=None, max_length=50)
    escalate_reason: str | None = Field(default=None, min_length=1, max_length=3000)
    additional_info: str | None = Field(default=None, max_length=3000)

    @field_validator("urls")
    @classmethod
    def _urls(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and any(
            len(v) > 2083 or not v.startswith(("http://", "https://")) or any(c.isspace() for c in v)
            for v in values
        ):
            raise ValueError("each URL must be an http(s) URL without whitespace, at most 2083 characters")
        return values

    @field_validator("incident_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("incident_at needs a time zone")
        return value


class NoticeCaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notice_id: int = Field(ge=1, le=2**31 - 1)


class Dismissal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class LegalHold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime | None = None
    note: str = Field(min_length=1, max_length=2000)

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("until needs a time zone")
        return value


class DestructionRequest(BaseModel):
    """A law-enforcement request to destroy the preserved contents (18 U.S.C. 2258B(c))."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=1, max_length=300)
    reference: str = Field(min_length=1, max_length=300)
    note: str | None = Field(default=None, max_length=2000)


class ReportFileOut(BaseModel):
    id: int
    sha256: str
    md5: str | None
    media_type: str
    size: int | None
    content_id: str | None
    uploaded_at: datetime | None
    held: bool
    viewed_at: datetime | None
    viewed_by: str | None
    ncmec_file_id: str | None
    purged_at: datetime | None


class ReportLinkOut(BaseModel):
    """A later match of the case's file: the check that matched (a cached answer names the first
    check of those bytes) and this upload's content and uploader ids."""

    check_id: int
    content_id: str | None
    uploader_id: str | None
    linked_at: datetime


class ReportCaseOut(BaseModel):
    id: int
    state: str
    source: str
    source_id: str
    incident_type: str
    incident_at: datetime
    account: AccountDetails
    urls: list[str]
    additional_info: str | None
    escalate_reason: str | None
    opened_at: datetime
    opened_by: str
    confirmed_at: datetime | None
    confirmed_by: str | None
    environment: str | None
    ncmec_report_id: int | None
    last_error_code: int | None
    last_error: str | None
    filed_at: datetime | None
    preserve_until: datetime | None
    legal_hold_until: datetime | None
    destruction_requested: bool
    destroyed_at: datetime | None
    files: list[ReportFileOut]
    links: list[ReportLinkOut]


class ReportCaseSummary(BaseModel):
    id: int
    state: str
    source: str
    source_id: str
    opened_at: datetime
    ncmec_report_id: int | None
    last_error_code: int | None


class ReportCasePage(BaseModel):
    items: list[ReportCaseSummary]
    next_cursor: str | None


class AccountAccepted(BaseModel):
    id: int
    state: str
