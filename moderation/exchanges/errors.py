"""Domain errors of the exchanges feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import Conflict, ModerationError, NotFound, ValidationFailed


class ExchangeNotFound(NotFound):
    code = "exchange_not_found"


class ExchangeExists(Conflict):
    code = "exchange_exists"


class ExchangeBusy(Conflict):
    """Another fetch holds the exchange's lease."""

    code = "exchange_busy"


class CredentialsMissing(ValidationFailed):
    """The credentials file has no (valid) entry for the exchange; never carries the secret itself."""

    code = "exchange_credentials_missing"


class FeedbackNotSupported(ValidationFailed):
    code = "exchange_feedback_not_supported"


class ExchangeUnavailable(ModerationError):
    """The exchange's API failed (network, 5xx after the library's retries, a bad response)."""

    code = "exchange_unavailable"
    status = 502
