"""Request and response models of appeals and counter-notices."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f.]+(?:\.[^@\s\x00-\x1f.]+)+")


def _address(value: str | None) -> str | None:
    if value is not None and not EMAIL.fullmatch(value):
        raise ValueError("not an email address (expected name@domain.tld)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Appellant(_Strict):
    """Who appeals, as the platform knows them; the decision is emailed to `email` when given."""

    role: Literal["uploader", "reporter"]
    name: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=320)
    user_id: str | None = Field(default=None, max_length=200, description="The platform's user id.")

    _email = field_validator("email")(_address)


class AppealSubject(_Strict):
    """The decision appealed against: a check (pre-publish or stay-down block) or a notice."""

    type: Literal["check", "notice"]
    id: int = Field(ge=1, le=2**31 - 1)


class AppealCreate(_Strict):
    subject: AppealSubject
    appellant: Appellant
    statement: str = Field(min_length=1, max_length=10_000, description="Why the decision is wrong.")
    client_reference: str | None = Field(
        default=None, max_length=200, description="Idempotency key: a retried filing returns the first."
    )


class Outcome(StrEnum):
    UPHOLD = "uphold"
    OVERTURN = "overturn"


class AppealDecision(_Strict):
    outcome: Outcome
    reason: str = Field(min_length=1, max_length=5000)


class AppealOut(BaseModel):
    id: int
    kind: str
    state: str
    check_id: int | None
    notice_id: int | None
    content_id: str | None
    appellant_role: str
    statement: str
    filed_at: datetime
    due_at: datetime
    overdue: bool
    decided_at_original: datetime
    original_decider: str | None
    filed_by: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    reversal: dict[str, list[str] | list[int] | str | int | None] | None
    created: bool | None = None


class AppealPage(BaseModel):
    items: list[AppealOut]
    next_cursor: str | None


class CounterNoticeCreate(_Strict):
    """17 U.S.C. 512(g)(3): every element is required; missing ones are listed together (422)."""

    signature: str | None = Field(
        default=None, max_length=500, description="Physical or electronic signature."
    )
    material: str | None = Field(
        default=None, max_length=5000, description="The material removed and where it appeared before."
    )
    good_faith_statement: str | None = Field(
        default=None,
        max_length=5000,
        description="A good-faith belief that it was removed by mistake or misidentification.",
    )
    perjury_acknowledged: bool = False
    jurisdiction_consent: bool = Field(
        default=False, description="Consent to the federal district court's jurisdiction and to service."
    )
    name: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, max_length=2000)
    phone: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    client_reference: str | None = Field(default=None, max_length=200)

    _email = field_validator("email")(_address)


class CourtAction(_Strict):
    note: str = Field(min_length=1, max_length=5000, description="Court, case number, date filed.")


class CounterNoticeOut(BaseModel):
    id: int
    notice_id: int
    state: str
    received_at: datetime
    restore_from: datetime
    restore_by: datetime
    court_action_at: datetime | None
    court_action_note: str | None
    restored_at: datetime | None
    filed_by: str
    elements: dict[str, str | bool | None]
    created: bool | None = None


class CounterNoticePage(BaseModel):
    items: list[CounterNoticeOut]
    next_cursor: str | None
