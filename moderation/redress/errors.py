"""Domain errors of the redress feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import Conflict, Forbidden, ModerationError, NotFound, ValidationFailed


class AppealNotFound(NotFound):
    code = "appeal_not_found"


class CounterNoticeNotFound(NotFound):
    code = "counter_notice_not_found"


class NotAppealable(Conflict):
    """The decision named cannot be appealed (nothing was restricted, or by this appellant)."""

    code = "not_appealable"


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"


class AppealAlreadyDecided(Conflict):
    code = "appeal_already_decided"


class SameDecisionMaker(Forbidden):
    """The person who took the decision appealed against may not decide the appeal."""

    code = "same_decision_maker"


class AutomatedDecisionForbidden(Forbidden):
    """Only a person may decide an appeal (DSA Art. 20(6))."""

    code = "automated_decision_forbidden"


class CounterNoticeIncomplete(ValidationFailed):
    code = "counter_notice_incomplete"


class CounterNoticeNotAvailable(Conflict):
    code = "counter_notice_not_available"


class CounterNoticeClosed(Conflict):
    code = "counter_notice_closed"


class ClientReferenceTaken(Conflict):
    code = "client_reference_taken"


class CounterNoticeIntakeRequired(ModerationError):
    """The bare notice route `counter-notice` cannot carry the statutory elements of 17 U.S.C.
    512(g)(3); a counter-notice is filed at POST /v1/notices/{id}/counter-notices."""

    code = "counter_notice_intake_required"
    status = 410


class PlatformKeyRequired(Forbidden):
    """Uploader-side filings (an uploader's appeal, a counter-notice) come from the platform's own
    keys (checker role, or admin), never from a reporting partner's intake key."""

    code = "platform_key_required"
