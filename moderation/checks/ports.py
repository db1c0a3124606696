"""The interfaces the check pipeline needs from the banks feature, and adapters onto its services.

The banks feature owns the match index and the bank entries; the check pipeline only needs
`match(hashes) -> matches` and `add_hashes(...)`. Both are reached through the banks feature's
*services* (never its repository), resolved lazily so this module imports without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from moderation.exceptions import ModerationError
from moderation.hashing.hashers import ImageHashes


class BankMatch(Protocol):
    """One bank entry within its bank's threshold of one of the query's hashes."""

    bank: str
    entry_id: Any
    hash_type: str
    variant: str | None
    distance: int
    threshold: int
    action: str  # block | review | allow
    suppressed_by: str | None


class Matcher(Protocol):
    """Matches a piece of content's hashes against every enabled bank.

    Lifecycle: owned by the banks/matching feature, one per process, kept current in memory by that
    feature; `match()` is called on the request path (no database access expected) and must be safe to
    call from several threads at once.
    """

    def match(self, hashes: ImageHashes) -> Sequence[BankMatch]: ...


class BanksUnavailable(ModerationError):
    code = "banks_unavailable"
    status = 503


@dataclass(frozen=True)
class SimpleMatch:
    """A `BankMatch` as plain data (what fakes and adapters return)."""

    bank: str
    entry_id: Any
    hash_type: str
    distance: int
    threshold: int
    action: str
    variant: str | None = None
    suppressed_by: str | None = None


class NoBanks:
    """A matcher for a process without the banks feature: nothing ever matches."""

    def match(self, hashes: ImageHashes) -> Sequence[BankMatch]:
        return []


def _optional(module: str, attribute: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        return None


class ServiceMatcher:
    """Adapter onto the matching feature's service (`moderation.matching.service.matcher`), which takes
    (type, value) pairs describing one piece of content and applies allow-list suppression itself.
    An entry found through several hash types is reported once: exact types first, then PDQ, then
    the closest."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def match(self, hashes: ImageHashes) -> Sequence[BankMatch]:
        best: dict[tuple[str, Any], BankMatch] = {}
        for found in self._service.match(hashes.typed()):
            key = (found.bank, found.entry_id)
            current = best.get(key)
            if current is None or (_PREFERENCE.get(found.hash_type, 2), found.distance) < (
                _PREFERENCE.get(current.hash_type, 2),
                current.distance,
            ):
                best[key] = found
        return list(best.values())


# Exact hashes say the most, then PDQ (the exchange format), then the 64-bit perceptual types.
_PREFERENCE = {"sha256": 0, "md5": 0, "pdq": 1}


def default_matcher() -> Matcher:
    """The process's matcher from the matching service, or `NoBanks` when that feature is absent."""
    service = _optional("moderation.matching.service", "matcher")
    return ServiceMatcher(service) if service is not None else NoBanks()


def add_hashes_to_bank(
    session: Session, *, bank: str, hashes: ImageHashes, actor: str, note: str, metadata: dict[str, Any]
) -> Any:
    """Add a content's hashes to a bank through the banks service (`banks.add_hashes`)."""
    service = _optional("moderation.banks.service", "banks")
    if service is None or not hasattr(service, "add_hashes"):
        raise BanksUnavailable("the banks service is not available in this build")
    return service.add_hashes(
        session,
        bank,
        [(t, v) for t, v in hashes.typed() if t in ("pdq", "md5", "sha256")],
        source="review",
        note=note,
        metadata=metadata,
        actor=actor,
    )
