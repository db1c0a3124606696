"""Domain errors of the banks feature (stable codes clients can switch on)."""

from __future__ import annotations

from moderation.exceptions import Conflict, NotFound, ValidationFailed


class BankNotFound(NotFound):
    code = "bank_not_found"


class BankExists(Conflict):
    code = "bank_exists"


class BankEntryNotFound(NotFound):
    code = "bank_entry_not_found"


class ImportRejected(ValidationFailed):
    """A strict import found bad lines: nothing was imported; `details` lists them with line numbers."""

    code = "import_rejected"
