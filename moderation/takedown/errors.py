"""Domain errors of the takedown feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import Conflict, IllegalTransition, ModerationError, NotFound, ValidationFailed

__all__ = [
    "CopyNotFound",
    "CopyNotInReview",
    "EvidenceNotFound",
    "EvidenceNotHeld",
    "EvidencePurged",
    "IllegalTransition",
    "InvalidNotice",
    "NotPaused",
    "NoticeIncomplete",
    "NoticeNotFound",
    "PauseNotAllowed",
    "RedressRecordRequired",
    "RequestTooLarge",
    "RestoreForbidden",
    "RestoreWindowNotOpen",
    "StepNotApplicable",
]


class NoticeNotFound(NotFound):
    code = "notice_not_found"


class InvalidNotice(ValidationFailed):
    """A submission that cannot be stored as given (e.g. a receipt time in the future, bad base64)."""

    code = "invalid_notice"


class NoticeIncomplete(Conflict):
    """Validation refused: required fields are still missing (listed in details)."""

    code = "notice_incomplete"


class PauseNotAllowed(Conflict):
    """No clock of the notice's regimes may pause for that reason."""

    code = "pause_not_allowed"


class StepNotApplicable(Conflict):
    """No clock of the notice's regimes waits for that step (details list the steps that do)."""

    code = "step_not_applicable"


class NotPaused(Conflict):
    code = "not_paused"


class RedressRecordRequired(Conflict):
    """`appeal`, `counter_notice`, `uphold`, `restore` and `reopen` are applied only as views of an
    appeal or counter-notice record (moderation/redress), never as a bare state change."""

    code = "redress_record_required"


class RestoreForbidden(Conflict):
    """Child-safety content is never restored, whatever the appeal or counter-notice says."""

    code = "restore_forbidden_child_safety"


class RestoreWindowNotOpen(Conflict):
    """A counter-notice restore before the regime's earliest restore time."""

    code = "restore_window_not_open"


class CopyNotFound(NotFound):
    """No near-duplicate with that id under this notice."""

    code = "notice_copy_not_found"


class CopyNotInReview(Conflict):
    """The near-duplicate was already removed, dismissed or restored (or another reviewer was first)."""

    code = "copy_not_in_review"


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


class EvidenceNotHeld(NotFound):
    """The evidence item keeps hashes and metadata only: the service never held the bytes."""

    code = "evidence_bytes_not_held"


class EvidencePurged(ModerationError):
    """The preservation period ended and the purge job dropped the bytes."""

    code = "evidence_purged"
    status = 410


class RequestTooLarge(ModerationError):
    code = "request_too_large"
    status = 413


class NoticeContentNotFound(NotFound):
    """No reported content item with that id under this notice."""

    code = "notice_content_not_found"


class ImageMismatch(Conflict):
    """The attached image is not the content the registry or the notice holds for that item."""

    code = "image_mismatch"
