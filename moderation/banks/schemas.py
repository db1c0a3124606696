"""Request and response bodies of /v1/banks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["block", "review", "allow"]


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    action: Action = "block"
    thresholds: dict[str, int] = Field(default_factory=dict, description='e.g. {"pdq": 31}')
    match_rotations: bool = False
    enabled: bool = True
    description: str | None = Field(default=None, max_length=2000)
    video_query_match_pct: float = Field(default=80.0, ge=0, le=100, description="vPDQ Q")
    video_compared_match_pct: float = Field(default=0.0, ge=0, le=100, description="vPDQ C")


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action | None = None
    thresholds: dict[str, int] | None = None
    match_rotations: bool | None = None
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=2000)
    video_query_match_pct: float | None = Field(default=None, ge=0, le=100)
    video_compared_match_pct: float | None = Field(default=None, ge=0, le=100)


class Bank(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    action: str
    thresholds: dict[str, int]
    match_rotations: bool
    enabled: bool
    description: str | None
    video_query_match_pct: float
    video_compared_match_pct: float
    created_by: str
    created_at: datetime
    updated_at: datetime | None
    entries: int = Field(default=0, description="top-level entries (robust variants not counted)")


class HashIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=16, examples=["pdq"])
    value: str = Field(max_length=200)


class EntriesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hashes: list[HashIn] = Field(min_length=1, max_length=1000)
    note: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] | None = None
    source: str = "upload"


class Entry(BaseModel):
    id: int
    bank: str
    hash_type: str
    value: str
    variant: str
    parent_id: int | None
    metadata: dict[str, Any] | None
    note: str | None
    source: str
    enabled: bool
    disabled_until: datetime | None
    added_by: str
    created_at: datetime


class EntryDetail(Entry):
    rows: list[Entry] = Field(default_factory=list, description="companion hashes and robust variants")


class ImageEntryAdded(Entry):
    """An image entry just added: its own row, the other hashes of the same image, and how many robust
    variants were stored under it (list them with `GET .../entries/{id}`)."""

    companions: list[Entry] = Field(description="the image's other hashes (SHA-256, MD5, pHash, dHash)")
    variants: int = Field(description="robust variants stored under the entry (crops, rotations, ...)")


class EntryPage(BaseModel):
    items: list[Entry]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    next_after: int | None = Field(
        description="Deprecated: the `after` of the next page; use `next_cursor`.", deprecated=True
    )


class EntryDisable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime | None = Field(default=None, description="omit to disable until re-enabled")


class BadLine(BaseModel):
    line: int
    reason: str


class ImportResult(BaseModel):
    lines: int
    imported: int
    skipped: int
    # Valid lines not imported: the bank already held the value, or an earlier line carried it.
    duplicates: int
    bad_lines: list[BadLine]
    first_entry_id: int | None
    last_entry_id: int | None
