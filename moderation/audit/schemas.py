"""Audit API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    policy_version: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    next_before_id: int | None = Field(
        description="Deprecated: the `before_id` of the next page; use `next_cursor`.", deprecated=True
    )
