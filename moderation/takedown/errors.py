"""Domain errors of the takedown feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import Conflict, IllegalTransition, NotFound, ValidationFailed

__all__ = [
    "IllegalTransition",
    "InvalidNotice",
    "NotPaused",
    "NoticeIncomplete",
    "NoticeNotFound",
    "PauseNotAllowed",
    "RestoreForbidden",
    "RestoreWindowNotOpen",
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


class NotPaused(Conflict):
    code = "not_paused"


class RestoreForbidden(Conflict):
    """Child-safety content is never restored, whatever the appeal or counter-notice says."""

    code = "restore_forbidden_child_safety"


class RestoreWindowNotOpen(Conflict):
    """A counter-notice restore before the regime's earliest restore time."""

    code = "restore_window_not_open"
