"""Errors of the reporting feature: domain errors carry their HTTP status and a stable code."""

from __future__ import annotations

from moderation.exceptions import Conflict, Forbidden, NotFound, ValidationFailed


class CaseNotFound(NotFound):
    code = "report_case_not_found"


class ReportFileNotFound(NotFound):
    code = "report_file_not_found"


class ReporterOnly(Forbidden):
    """The reporting role alone (admins included in the refusal); the code every role refusal has."""

    code = "forbidden"


class CaseStateConflict(Conflict):
    code = "report_case_state"


class InvalidCase(ValidationFailed):
    code = "invalid_report_case"


class FileNotHeld(Conflict):
    code = "report_file_not_held"


class CyberTipError(Exception):
    """The CyberTipline answered with a non-zero response code (or a failing HTTP status).

    `code` is the API's responseCode (None when the body had none), `http_status` the HTTP status."""

    def __init__(self, code: int | None, description: str, http_status: int) -> None:
        super().__init__(f"CyberTipline {code}: {description} (HTTP {http_status})")
        self.code = code
        self.description = description
        self.http_status = http_status

    @property
    def permanent(self) -> bool:
        """Refusals that repeating the same request cannot fix: authentication, authorisation and
        validation (2xxx, 3xxx, 4xxx). Server and save failures (1xxx) are retried."""
        return self.code is not None and 2000 <= self.code < 5000


# Codes with a meaning the submission relies on (reference: docs/reporting.md "Response codes").
NO_SUCH_REPORT = 5001
ALREADY_RETRACTED = 5101
ALREADY_FINISHED = 5102
