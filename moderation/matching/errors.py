"""Errors raised by the match index, each with a stable code."""

from __future__ import annotations

from moderation.exceptions import ModerationError, ValidationFailed


class InvalidHashCodes(ValidationFailed):
    """Codes or ids handed to the index have the wrong shape, length, type or value."""

    code = "invalid_hash_codes"


class IndexSnapshotInvalid(ModerationError):
    """A snapshot file is missing, truncated, of another format version, or for another bit length."""

    code = "index_snapshot_invalid"
    status = 500


class TooManyHashes(ModerationError):
    code = "too_many_hashes"
    status = 413


class MatchIndexUnavailable(ModerationError):
    """The match index is not loaded yet (start-up) or its refresher has stopped."""

    code = "match_index_unavailable"
    status = 503
