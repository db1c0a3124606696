"""The interfaces the check pipeline needs from the banks and matching features, and adapters onto
their services (never their repositories): `match(hashes) -> matches` and `add_hashes(...)`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from moderation.banks.service import banks
from moderation.checks.schemas import CheckMetadata
from moderation.hashing.hashers import ImageHashes
from moderation.hashing.video import VideoHashes
from moderation.matching.service import MatchService
from moderation.matching.service import matcher as match_service
from moderation.models.check import Check


class BankMatch(Protocol):
    """One bank entry within its bank's threshold of one of the query's hashes."""

    @property
    def bank(self) -> str: ...
    @property
    def entry_id(self) -> Any: ...
    @property
    def hash_type(self) -> str: ...
    @property
    def variant(self) -> str | None: ...
    @property
    def distance(self) -> int: ...
    @property
    def threshold(self) -> int: ...
    @property
    def action(self) -> str:  # block | review | allow
        ...
    @property
    def suppressed_by(self) -> str | None: ...


class MatchIntake(Protocol):
    """Receives each check that matched a bank (matches an allow-list suppressed do not count), with
    its bytes and the platform's metadata of this upload, inside the check's transaction; the
    mandatory-reporting feature opens report cases from it. A cached answer (the same bytes checked
    before) passes the original check with the new upload's metadata.

    Lifecycle: set on the pipeline context by the app (`reporting.lifecycle`); `matched()` runs on the
    request path for every such check, must not commit and must not do slow work."""

    def matched(
        self,
        session: Session,
        check: Check,
        data: bytes,
        banks: Sequence[str],
        *,
        actor: str,
        metadata: CheckMetadata,
    ) -> None: ...


class Matcher(Protocol):
    """Matches a piece of content's hashes against every enabled bank.

    Lifecycle: owned by the banks/matching feature, one per process, kept current in memory by that
    feature; `match()` is called on the request path (no database access expected) and must be safe to
    call from several threads at once.
    """

    def match(self, hashes: ImageHashes) -> Sequence[BankMatch]: ...

    def holds(self, hash_type: str) -> bool:
        """Whether some bank holds hashes of this perceptual type (so a check computes it); True while
        unknown."""
        ...

    def match_video(self, video: VideoHashes) -> Sequence[BankMatch]:
        """A video's matches: vPDQ against video entries (each bank's Q and C), its frames against image
        entries, its file hashes against everything. Matches carry `query_segments`, `entry_segments`,
        `query_match_pct` and `entry_match_pct`."""
        ...


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


class ServiceMatcher:
    """Adapter onto the matching feature's service (`moderation.matching.service.matcher`), which takes
    (type, value) pairs describing one piece of content and applies allow-list suppression itself.
    An entry found through several hash types is reported once: exact types first, then PDQ, then
    the closest."""

    def __init__(self, service: MatchService = match_service) -> None:
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

    def holds(self, hash_type: str) -> bool:
        return self._service.holds(hash_type)

    def match_video(self, video: VideoHashes) -> Sequence[BankMatch]:
        return self._service.match_video(video.frames, exact=video.typed())


# Exact hashes say the most, then PDQ (the exchange format), then the 64-bit perceptual types.
_PREFERENCE = {"sha256": 0, "md5": 0, "pdq": 1}


def add_hashes_to_bank(
    session: Session, *, bank: str, hashes: ImageHashes, actor: str, note: str, metadata: dict[str, Any]
) -> Any:
    """Add a content's hashes to a bank through the banks service (`banks.add_hashes`)."""
    return banks.add_hashes(
        session,
        bank,
        [(t, v) for t, v in hashes.typed() if t in ("pdq", "md5", "sha256")],
        source="review",
        note=note,
        metadata=metadata,
        actor=actor,
    )
