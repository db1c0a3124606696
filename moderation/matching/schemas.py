"""Request and response bodies of POST /v1/match."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HashQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=16, examples=["pdq"])
    value: str = Field(max_length=200)
    content: str | None = Field(
        default=None,
        max_length=200,
        description="hashes of the same piece of content share a label (allow-list suppression applies "
        "within it); an unlabelled hash stands alone",
    )


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The service enforces the limit itself (413 `too_many_hashes`); this bound only caps parsing.
    hashes: list[HashQuery] = Field(min_length=1, max_length=10_000)


class EntryMatch(BaseModel):
    bank: str
    entry_id: int
    variant: str
    distance: int
    threshold: int
    action: str
    suppressed_by: str | None


class HashResult(BaseModel):
    type: str
    value: str
    content: str | None
    matches: list[EntryMatch]


class MatchResponse(BaseModel):
    results: list[HashResult]
