"""The takedown feature's calls into other features: hashing, the stay-down bank, the content registry.

Kept in one module so the interfaces of `banks`, `hashing` and `checks` are met in one place, and so
tests can replace `stay_down` with a fake (`takedown.stay_down = FakeStayDown()`). Each call is made
inside the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from moderation.banks.errors import BankEntryNotFound
from moderation.banks.service import STAY_DOWN_BANK, banks
from moderation.checks.registry import content_registry
from moderation.config import Settings
from moderation.exceptions import NotFound
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.hashing.video import FrameHash, VideoHashOptions, VideoLimits, hash_video, sniff_video

STAY_DOWN_SOURCE = "takedown"


@dataclass(frozen=True)
class Copy:
    """A registered item the sweep found: `distance` 0 with `identical` for an exact (SHA-256) copy."""

    content_id: str
    sha256: str | None
    pdq: str | None
    distance: int
    identical: bool


@dataclass(frozen=True)
class Banked:
    """What a stay-down addition stored: the top-level entry ids (what a restore disables) and the
    number of bank rows (an image entry adds its companion hashes and robust variants too)."""

    entry_ids: list[int]
    rows: int


@dataclass(frozen=True)
class RegisteredHashes:
    content_id: str
    sha256: str
    pdq: str | None
    md5: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StayDownPort(Protocol):
    """What takedown needs from the rest of the system.

    Lifecycle: at intake `hash_upload` hashes an uploaded copy (raising ImageRejected subclasses for
    bad images); at removal `registered` looks up the registry's hashes of each reported content_id,
    `add_hashes`/`add_image` put the removed content into the stay-down bank, `find_copies` sweeps the
    registry for identical and near-duplicate copies and `mark_removed` records the removal there. At
    restore `disable_entries` stops the entries that the notice added from matching."""

    def hash_upload(self, data: bytes, settings: Settings) -> dict[str, Any]: ...

    def registered(self, session: Session, content_id: str) -> list[RegisteredHashes]: ...

    def add_hashes(
        self,
        session: Session,
        hashes: list[tuple[str, str]],
        *,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> Banked: ...

    def add_image(
        self, session: Session, data: bytes, *, note: str, metadata: dict[str, Any], actor: str
    ) -> Banked: ...

    def find_copies(
        self, session: Session, *, sha256: str | None, pdq: str | None, threshold: int
    ) -> list[Copy]: ...

    def add_video(
        self,
        session: Session,
        frames: list[list[Any]],
        *,
        sha256: str | None,
        md5: str | None,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> Banked:
        """Bank a removed video by its file hashes and frame hashes ([frame, PDQ, quality, seconds])."""
        ...

    def find_video_copies(self, session: Session, frames: list[list[Any]], *, threshold: int) -> list[Copy]:
        """Registered videos containing the video or a clip of it, and registered images that are
        frames of it."""
        ...

    def mark_removed(self, session: Session, content_id: str, *, notice_id: int, actor: str) -> None: ...

    def disable_entries(self, session: Session, entry_ids: list[int], *, actor: str) -> list[int]: ...


def _frame(stored: list[Any]) -> FrameHash:
    """A frame hash as stored with a check or evidence: [frame, PDQ, quality, seconds, {kind: PDQ}]."""
    variants = stored[4] if len(stored) > 4 and isinstance(stored[4], dict) else {}
    return FrameHash(
        int(stored[0]), str(stored[1]), int(stored[2]), float(stored[3]), tuple(sorted(variants.items()))
    )


class PlatformStayDown:
    """The real implementation over `moderation.hashing`, `moderation.banks` and `moderation.checks`."""

    def hash_upload(self, data: bytes, settings: Settings) -> dict[str, Any]:
        """An image's hashes, or a video's file hashes with its frame hashes under `video_frames`
        (so actioning banks the frames without decoding the video again)."""
        if sniff_video(data) is None:
            return hash_image_bytes(data, ImageLimits.from_settings(settings)).as_dict()
        video = hash_video(
            data, VideoLimits.from_settings(settings), VideoHashOptions.from_settings(settings)
        )
        first = next(iter(video.usable_frames or video.frames), None)
        return {
            "sha256": video.sha256,
            "md5": video.md5,
            "pdq": first.pdq if first else None,
            "pdq_quality": first.quality if first else None,
            "media_type": "video",
            "duration": video.duration,
            "video_frames": [
                [f.frame, f.pdq, f.quality, f.timestamp, dict(f.variants)] for f in video.frames
            ],
        }

    def registered(self, session: Session, content_id: str) -> list[RegisteredHashes]:

        out = []
        for c in content_registry.copies_of(session, content_id):
            if c.content_id != content_id:
                continue
            frames = content_registry.video_frames(session, c.check_id)
            extra = {"video_frames": frames} if frames is not None else {}
            out.append(
                RegisteredHashes(content_id=c.content_id, sha256=c.sha256, pdq=c.pdq, md5=c.md5, extra=extra)
            )
        return out

    def add_video(
        self,
        session: Session,
        frames: list[list[Any]],
        *,
        sha256: str | None,
        md5: str | None,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> Banked:
        bank = banks.ensure_stay_down_bank(session)
        entries = banks.add_video_frames(
            session,
            bank.name,
            [_frame(stored) for stored in frames],
            md5=md5,
            sha256=sha256,
            note=note,
            metadata=metadata,
            source=STAY_DOWN_SOURCE,
            actor=actor,
        )
        return Banked([e.id for e in entries if e.parent_id is None], len(entries))

    def find_video_copies(self, session: Session, frames: list[list[Any]], *, threshold: int) -> list[Copy]:
        return [
            Copy(content_id=c.content_id, sha256=c.sha256, pdq=c.pdq, distance=c.distance, identical=False)
            for c in content_registry.find_video_copies(session, frames, pdq_threshold=threshold)
        ]

    def add_hashes(
        self,
        session: Session,
        hashes: list[tuple[str, str]],
        *,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> Banked:

        if not hashes:
            return Banked([], 0)
        bank = banks.ensure_stay_down_bank(session)
        entries = banks.add_hashes(
            session, bank.name, hashes, source=STAY_DOWN_SOURCE, note=note, metadata=metadata, actor=actor
        )
        return Banked([e.id for e in entries if e.parent_id is None], len(entries))

    def add_image(
        self, session: Session, data: bytes, *, note: str, metadata: dict[str, Any], actor: str
    ) -> Banked:

        bank = banks.ensure_stay_down_bank(session)
        entries = banks.add_image(
            session, bank.name, data, source=STAY_DOWN_SOURCE, note=note, metadata=metadata, actor=actor
        )
        return Banked([e.id for e in entries if e.parent_id is None], len(entries))

    def find_copies(
        self, session: Session, *, sha256: str | None, pdq: str | None, threshold: int
    ) -> list[Copy]:

        return [
            Copy(
                content_id=c.content_id,
                sha256=c.sha256,
                pdq=c.pdq,
                distance=c.distance,
                identical=c.match == "identical",
            )
            for c in content_registry.find_copies(session, sha256=sha256, pdq=pdq, pdq_threshold=threshold)
        ]

    def mark_removed(self, session: Session, content_id: str, *, notice_id: int, actor: str) -> None:

        try:
            content_registry.mark_removed(session, content_id, notice_id=notice_id, actor=actor)
        except NotFound:
            # Content the registry never saw (e.g. only a URL was reported): nothing to mark.
            return

    def disable_entries(self, session: Session, entry_ids: list[int], *, actor: str) -> list[int]:

        disabled = []
        for entry_id in entry_ids:
            try:
                banks.disable_entry(session, entry_id, bank_name=STAY_DOWN_BANK, actor=actor)
            except BankEntryNotFound:
                # An operator deleted it meanwhile: it no longer blocks anything.
                continue
            disabled.append(entry_id)
        return disabled
