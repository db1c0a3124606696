"""Domain errors of the checks feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import ModerationError, NotFound


class CheckNotFound(NotFound):
    code = "check_not_found"


class ReviewItemNotFound(NotFound):
    code = "review_item_not_found"


class ReviewCopyNotFound(NotFound):
    code = "review_copy_not_found"


class SealConflict(ModerationError):
    code = "seal_conflict"
    status = 409
