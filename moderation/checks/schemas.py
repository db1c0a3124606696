"""Request and response shapes of the check API, the content registry and the review queue."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from moderation.checks.errors import InvalidMetadata, MalformedMetadata
from moderation.kit.schemas import OmitNone
from moderation.statements.schemas import StatementOut

Source = Literal["upload", "generated"]
Decision = Literal["allow", "review", "block"]
Verdict = Literal["allow", "block", "escalate"]


class CheckMetadata(BaseModel):
    """What the platform tells us about the content (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content_id: str | None = Field(default=None, min_length=1, max_length=200)
    uploader_id: str | None = Field(default=None, min_length=1, max_length=200)
    source: Source | None = None
    prompt: str | None = Field(default=None, max_length=10_000)
    model: str | None = Field(default=None, max_length=200)
    seed: int | str | None = None

    @property
    def source_or_unknown(self) -> str:
        return self.source or "unknown"

    @classmethod
    def parse(cls, raw: str | bytes | None) -> CheckMetadata:
        """Parse the multipart `metadata` field: 400 `malformed_metadata` when it is not a JSON object,
        422 `invalid_metadata` when a value is wrong."""
        if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
            return cls()
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedMetadata(f"metadata is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise MalformedMetadata("metadata must be a JSON object")
        try:
            parsed = cls.model_validate(value)
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]) or "metadata", "msg": e["msg"]}
                for e in exc.errors()
            ]
            raise InvalidMetadata("metadata has invalid values", details={"errors": errors}) from exc
        if isinstance(parsed.seed, str) and len(parsed.seed) > 100:
            raise InvalidMetadata("metadata.seed is longer than 100 characters")
        return parsed


class VideoSegment(BaseModel):
    """A run of matched frames, in seconds from the start of the video."""

    start: float
    end: float


class FrameHashOut(BaseModel):
    """One sampled frame of a video, as vPDQ describes it."""

    frame: int
    pdq: str
    quality: int
    timestamp: float


class VideoInfo(BaseModel):
    """What was sampled from a video: its length, the frames decoded and the frame hashes (vPDQ)."""

    duration: float
    decoded_frames: int | None = None
    decode: str | None = None
    frames: list[FrameHashOut]


class Reason(OmitNone):
    """One finding behind a decision. `kind` says which fields are present:
    `bank_match` (bank, entry_id, hash_type, variant, distance, threshold, action, suppressed_by),
    `classifier` (category, score, threshold, threshold_level, child_safety), `classifier_combination`
    (categories, scores), `classifier_unavailable` (state, source), `prompt` (term or pattern, matched),
    `review_verdict` (by), `classifier_unscored` (category, child_safety, source, reason). Classifier
    findings name the `model` that scored them and, where the policy gives one, a `label`;
    a combination that fired with some categories unscored lists them in `unscored`. `rule` is the
    decision policy's rule id. Absent fields are left out."""

    kind: str
    rule: str
    decision: Decision
    bank: str | None = None
    entry_id: int | str | None = None
    hash_type: str | None = None
    variant: str | None = None
    distance: int | None = None
    threshold: int | float | None = None
    action: str | None = None
    category: str | None = None
    score: float | None = None
    threshold_level: str | None = None
    child_safety: bool | None = None
    categories: list[str] | None = None
    scores: dict[str, float] | None = None
    state: str | None = None
    source: str | None = None
    term: str | None = None
    pattern: str | None = None
    matched: str | None = None
    by: str | None = None
    suppressed_by: str | None = None
    model: str | None = None
    label: str | None = None
    unscored: list[str] | None = None
    reason: str | None = None
    # Videos: bank matches carry where the matched frames lie and how much of each side matched;
    # classifier reasons the timestamp of the frame with the category's highest score.
    query_match_pct: float | None = None
    entry_match_pct: float | None = None
    frames_matched: int | None = None
    segments: list[VideoSegment] | None = None
    entry_segments: list[VideoSegment] | None = None
    timestamps: list[float] | None = None


class Hashes(BaseModel):
    sha256: str
    md5: str
    pdq: str
    pdq_quality: int
    phash: str | None = Field(
        description="null when not computed: no enabled bank holds pHash entries and "
        "MODERATION_CHECK_PERCEPTUAL_HASHES is `banked` (the default)"
    )
    dhash: str | None = Field(description="null when not computed (as for `phash`)")


class ImageInfo(BaseModel):
    format: str
    width: int
    height: int


class CategoryScoreOut(BaseModel):
    """One category's score, the thresholds it fired and the model that scored it."""

    id: str
    score: float
    review: bool
    block: bool
    child_safety: bool
    model: str | None = None


class ModelOut(BaseModel):
    """A model that scored categories: its id (`open_nsfw`, `open_clip`), version and file checksum."""

    id: str
    version: str
    sha256: str | None = None


class UnscoredOut(BaseModel):
    """A category no available model could score, and why."""

    id: str
    reason: str
    child_safety: bool = False


class FrameScoresOut(BaseModel):
    """A video frame the classifier scored: its timestamp (seconds) and the score per category."""

    timestamp: float
    scores: dict[str, float]


class ClassifierOut(OmitNone):
    """The classifier's part of a check: its state, and when it ran, the scores and fired thresholds
    (`reason` says why it did not run), the models that scored, and the categories left unscored.
    Videos add the frames scored and, per category, the timestamp of its highest score (`peaks`).
    Absent fields are left out."""

    state: str
    reason: str | None = None
    model: str | None = None
    models: list[ModelOut] | None = None
    policy_version: str | None = None
    scores: dict[str, float] | None = None
    review: list[str] | None = None
    block: list[str] | None = None
    categories: list[CategoryScoreOut] | None = None
    unscored: list[UnscoredOut] | None = None
    frames: list[FrameScoresOut] | None = None
    peaks: dict[str, float] | None = None


class CheckResult(BaseModel):
    """The answer to one check."""

    check_id: int
    decision: Decision
    cached: bool
    reasons: list[Reason]
    hashes: Hashes
    image: ImageInfo
    classifier: ClassifierOut
    policy_version: str
    timings_ms: dict[str, float]
    content_id: str | None = None
    review_item_id: int | None = None
    # Set for videos (`image` then describes the container format and the frame size).
    video: VideoInfo | None = None
    statement: StatementOut | None = Field(
        default=None, description="The statement of reasons of a block or review hold (DSA Art. 17)."
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, JsonValue] | None = None


class BatchEntry(BaseModel):
    """One image of a batch: its result, or the error that refused it."""

    index: int
    filename: str | None = None
    result: CheckResult | None = None
    error: ErrorBody | None = None


class BatchResult(BaseModel):
    results: list[BatchEntry]
    max_batch_images: int


class ReviewEntry(BaseModel):
    """A review queue item with the check it is about."""

    id: int
    state: str
    risk: float
    created_at: datetime
    content_id: str | None
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str | None = None
    added_to_bank: str | None = None
    check: CheckResult
    prompt: str | None = None
    source: str


class ReviewPage(BaseModel):
    items: list[ReviewEntry]
    limit: int
    offset: int = Field(description="Deprecated: the `offset` asked for; page with `next_cursor`.")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


class VerdictRequest(BaseModel):
    """A reviewer's verdict. `add_to_bank` (only with `block`) adds the content's hashes to that bank."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    note: str | None = Field(default=None, max_length=5000)
    add_to_bank: str | None = Field(default=None, min_length=1, max_length=100)
