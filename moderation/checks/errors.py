"""Domain errors of the checks feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import BadRequest, ModerationError, NotFound, ValidationFailed


class CheckNotFound(NotFound):
    code = "check_not_found"


class ReviewItemNotFound(NotFound):
    code = "review_item_not_found"


class ReviewCopyNotFound(NotFound):
    code = "review_copy_not_found"


class SealConflict(ModerationError):
    code = "seal_conflict"
    status = 409


class InvalidMetadata(ValidationFailed):
    """The `metadata` field is JSON but its values are not acceptable."""

    code = "invalid_metadata"


class MalformedMetadata(BadRequest):
    """The `metadata` field is not a JSON object at all."""

    code = "malformed_metadata"
