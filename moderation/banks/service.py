"""Hash banks: create and configure banks, add entries by image or by hash, import, export, disable, delete.

Every change is audited in the caller's transaction and written to the bank change log, from which each
process's match index refreshes incrementally (see moderation/matching/service.py). Over 700 lines on
purpose: one responsibility (bank entries and their change log); import and export are its bulk forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.errors import BankEntryNotFound, BankExists, BankNotFound, ImportRejected
from moderation.banks.formats import (
    CSV_HEADER,
    TE_CSV_HEADER,
    BadLine,
    FileFormat,
    ParsedBatch,
    format_row,
    read_batches,
)
from moderation.banks.repository import (
    CHANGE_COUNTER,
    ENTRY_COUNTER,
    EntryRow,
    bank_repository,
    value_prefixes,
)
from moderation.config import get_settings
from moderation.db import make_engine, session_factory
from moderation.exceptions import Conflict, ValidationFailed
from moderation.hashing.hashers import hash_decoded
from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import PLAIN, bank_variants
from moderation.hashing.types import HASH_TYPES, PDQ_DEFAULT_THRESHOLD, InvalidHash, get_hash_type, parse_hash
from moderation.hashing.video import (
    FrameHash,
    VideoHashes,
    frame_variant,
    frames_digest,
    parse_frame_variant,
)
from moderation.kit.paging import Page, decode_id_cursor, page_of
from moderation.kit.time import utc_now
from moderation.models.bank import Bank
from moderation.models.bank_entry import BankEntry

ACTIONS = ("block", "review", "allow")
DEFAULT_THRESHOLDS: dict[str, int] = {"pdq": PDQ_DEFAULT_THRESHOLD, "phash": 10, "dhash": 10}
# vPDQ defaults: 80% of the query's usable frames match, any share of the entry's (a clip matches).
DEFAULT_VIDEO_QUERY_PCT = 80.0
DEFAULT_VIDEO_COMPARED_PCT = 0.0
STAY_DOWN_BANK = "stay-down"
# Variant of a video entry's top-level row (its frames are `frame:...` rows under it).
VIDEO_VARIANT = "video"
SYSTEM_ACTOR = "system:banks"
# `disabled_until` of an entry disabled with no end date.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
MAX_REPORTED_BAD_LINES = 1000
IMPORT_BATCH = 20_000

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SOURCE = re.compile(r"^(upload|takedown|review|reporting|import:[^\s]{1,100})$")


@dataclass
class ImportReport:
    """What an import did. `bad_lines` holds the first `MAX_REPORTED_BAD_LINES`; `skipped` counts all.
    `duplicates` counts valid lines not imported because the bank (or an earlier line) holds the value."""

    lines: int = 0
    imported: int = 0
    skipped: int = 0
    duplicates: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    first_entry_id: int | None = None
    last_entry_id: int | None = None


@dataclass(frozen=True)
class EntryPage(Page[BankEntry]):
    """A page of a bank's entries in id order."""

    @property
    def next_after(self) -> int | None:
        """The deprecated `after` of the next page (the last id of this one)."""
        return self.items[-1].id if self.next_cursor and self.items else None


def _canonical_thresholds(given: dict[str, Any] | None, base: dict[str, Any]) -> dict[str, int]:
    merged = dict(base)
    for name, value in (given or {}).items():
        hash_type = HASH_TYPES.get(str(name).lower())
        if hash_type is None or not hash_type.perceptual:
            perceptual = ", ".join(n for n, t in HASH_TYPES.items() if t.perceptual)
            raise ValidationFailed(
                f"thresholds apply to perceptual hash types ({perceptual}), not {name!r}",
                code="invalid_threshold",
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hash_type.bits:
            raise ValidationFailed(
                f"the {hash_type.name} threshold must be an integer from 0 to {hash_type.bits}",
                code="invalid_threshold",
            )
        merged[hash_type.name] = value
    return merged


def _check_pct(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValidationFailed(f"{name} must be a percentage from 0 to 100", code="invalid_percentage")


def _check_action(action: str) -> str:
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}", code="invalid_action")
    return action


def _check_source(source: str) -> str:
    if not _SOURCE.match(source):
        raise ValidationFailed(
            "source must be upload, takedown, review, reporting or import:<name>", code="invalid_source"
        )
    return source


class BankService:
    """Banks and their entries. Methods run in the caller's transaction and never commit."""

    # --- banks ------------------------------------------------------------------------------------

    def create(
        self,
        session: Session,
        *,
        name: str,
        action: str = "block",
        thresholds: dict[str, Any] | None = None,
        match_rotations: bool = False,
        enabled: bool = True,
        description: str | None = None,
        video_query_match_pct: float = DEFAULT_VIDEO_QUERY_PCT,
        video_compared_match_pct: float = DEFAULT_VIDEO_COMPARED_PCT,
        actor: str,
    ) -> Bank:
        """Create a bank (thresholds default to PDQ 31, pHash/dHash 10; video Q/C to 80/0);
        `bank_exists` if taken."""
        if not _NAME.fullmatch(name or ""):
            raise ValidationFailed(
                "bank names are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
                code="invalid_bank_name",
            )
        _check_action(action)
        canonical = _canonical_thresholds(thresholds, DEFAULT_THRESHOLDS)
        _check_pct(video_query_match_pct, "video_query_match_pct")
        _check_pct(video_compared_match_pct, "video_compared_match_pct")
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        if bank_repository.bank_by_name(session, name) is not None:
            raise BankExists(f"a bank named '{name}' already exists")
        bank = bank_repository.add_bank(
            session,
            Bank(
                name=name,
                action=action,
                thresholds=canonical,
                match_rotations=match_rotations,
                enabled=enabled,
                description=description,
                video_query_match_pct=float(video_query_match_pct),
                video_compared_match_pct=float(video_compared_match_pct),
                created_by=actor,
            ),
        )
        bank_repository.log_change(
            session, seq=seq, occurred_at=utc_now(), kind="bank_upsert", bank_id=bank.id
        )
        audit.record(
            session,
            actor=actor,
            action="bank.create",
            subject_type="bank",
            subject_id=name,
            details={
                "action": action,
                "thresholds": canonical,
                "match_rotations": match_rotations,
                "enabled": enabled,
                "video_query_match_pct": float(video_query_match_pct),
                "video_compared_match_pct": float(video_compared_match_pct),
            },
        )
        return bank

    def get(self, session: Session, name: str) -> Bank:
        bank = bank_repository.bank_by_name(session, name)
        if bank is None:
            raise BankNotFound(f"no bank named '{name}'")
        return bank

    def all(self, session: Session) -> list[Bank]:
        return bank_repository.list_banks(session)

    def count_entries(self, session: Session, bank: Bank) -> int:
        """Top-level entries (variants of image entries not counted)."""
        return bank_repository.count_entries(session, bank.id)

    def update(
        self,
        session: Session,
        name: str,
        *,
        action: str | None = None,
        thresholds: dict[str, Any] | None = None,
        match_rotations: bool | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        video_query_match_pct: float | None = None,
        video_compared_match_pct: float | None = None,
        actor: str,
    ) -> Bank:
        """Change a bank's settings; only the given fields change. Takes effect in every process's
        match index at its next refresh."""
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        bank = self.get(session, name)
        changes: dict[str, Any] = {}
        if action is not None and action != bank.action:
            changes["action"] = {"from": bank.action, "to": _check_action(action)}
            bank.action = action
        if thresholds is not None:
            canonical = _canonical_thresholds(thresholds, bank.thresholds)
            if canonical != bank.thresholds:
                changes["thresholds"] = {"from": bank.thresholds, "to": canonical}
                bank.thresholds = canonical
        if match_rotations is not None and match_rotations != bank.match_rotations:
            changes["match_rotations"] = {"from": bank.match_rotations, "to": match_rotations}
            bank.match_rotations = match_rotations
        if enabled is not None and enabled != bank.enabled:
            changes["enabled"] = {"from": bank.enabled, "to": enabled}
            bank.enabled = enabled
        if description is not None and description != bank.description:
            changes["description"] = {"from": bank.description, "to": description}
            bank.description = description
        for field_name, value in (
            ("video_query_match_pct", video_query_match_pct),
            ("video_compared_match_pct", video_compared_match_pct),
        ):
            if value is not None and float(value) != getattr(bank, field_name):
                _check_pct(value, field_name)
                changes[field_name] = {"from": getattr(bank, field_name), "to": float(value)}
                setattr(bank, field_name, float(value))
        if not changes:
            return bank
        bank.updated_at = utc_now()
        session.flush()
        bank_repository.log_change(
            session, seq=seq, occurred_at=utc_now(), kind="bank_upsert", bank_id=bank.id
        )
        audit.record(
            session, actor=actor, action="bank.update", subject_type="bank", subject_id=name, details=changes
        )
        return bank

    def ensure_stay_down_bank(self, session: Session) -> Bank:
        """The well-known `stay-down` bank (block, rotations matched) for content taken down; created on
        first use. Safe when several callers race: the change counter lock serialises creation."""
        existing = bank_repository.bank_by_name(session, STAY_DOWN_BANK)
        if existing is not None:
            return existing
        bank_repository.bump_counter(session, CHANGE_COUNTER, by=0)
        existing = bank_repository.bank_by_name(session, STAY_DOWN_BANK)
        if existing is not None:
            return existing
        return self.create(
            session,
            name=STAY_DOWN_BANK,
            action="block",
            match_rotations=True,
            description="Content taken down: re-uploads are blocked (created by the takedown feature).",
            actor=SYSTEM_ACTOR,
        )

    # --- entries ----------------------------------------------------------------------------------

    def add_hashes(
        self,
        session: Session,
        bank_name: str,
        hashes: list[tuple[str, str]],
        *,
        source: str,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
        actor: str,
    ) -> list[BankEntry]:
        """Add bare hashes, one top-level entry each. Every value is validated first (`invalid_hash`
        names the first bad one), so either all are added or none."""
        _check_source(source)
        canonical: list[tuple[str, str]] = []
        for position, (type_name, value) in enumerate(hashes):
            try:
                hash_type, text = parse_hash(type_name, value)
            except InvalidHash as exc:
                raise InvalidHash(exc.message, details={**exc.details, "index": position}) from exc
            canonical.append((hash_type.name, text))
        if not canonical:
            raise ValidationFailed("no hashes given", code="no_hashes")
        bank = self.get(session, bank_name)
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        last = bank_repository.bump_counter(session, ENTRY_COUNTER, by=len(canonical))
        first = last - len(canonical) + 1
        bank_repository.insert_plain_entries(
            session,
            first_id=first,
            bank_id=bank.id,
            hash_types=[t for t, _ in canonical],
            values=[v for _, v in canonical],
            prefixes=value_prefixes([v for _, v in canonical]),
            metas=None if metadata is None else [metadata] * len(canonical),
            note=note,
            source=source,
            actor=actor,
            created_at=utc_now(),
        )
        self._log_added(session, seq, bank, first, last)
        audit.record(
            session,
            actor=actor,
            action="bank.entries_add",
            subject_type="bank",
            subject_id=bank.name,
            details={
                "source": source,
                "count": len(canonical),
                "entry_ids": [first, last],
                "hashes": [{"type": t, "value": v} for t, v in canonical[:20]],
            },
        )
        return bank_repository.entries_by_ids(session, list(range(first, last + 1)))

    def add_image(
        self,
        session: Session,
        bank_name: str,
        data: bytes,
        *,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "upload",
        actor: str,
        limits: ImageLimits | None = None,
    ) -> list[BankEntry]:
        """Hash an image and add it as one entry: the returned list starts with the top-level PDQ entry,
        followed by its companion rows (SHA-256, MD5, pHash, dHash) and its robust PDQ variants (crops,
        trimmed frame, colour shifts, the eight rotations/flips). The image itself is not kept.

        Rotation/flip variants are stored for every image entry and used only while the bank has
        `match_rotations`, so turning it on later works for existing entries too."""
        _check_source(source)
        limits = limits or ImageLimits.from_settings(get_settings())
        decoded = decode_image(data, limits)
        hashes = hash_decoded(data, decoded)
        variants = bank_variants(decoded.image, rotations=True)
        bank = self.get(session, bank_name)
        companions = [(t, v) for t, v in hashes.typed() if t != "pdq"]
        extra = [(v.hash_type, v.variant, v.value) for v in variants if v.variant != PLAIN]
        count = 1 + len(companions) + len(extra)
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        last = bank_repository.bump_counter(session, ENTRY_COUNTER, by=count)
        top = last - count + 1
        now = utc_now()
        entry_meta = {**(metadata or {}), "pdq_quality": hashes.pdq_quality}
        rows: list[EntryRow] = [
            (top, bank.id, "pdq", hashes.pdq, PLAIN, None, entry_meta, note, source, None, actor, now)
        ]
        for offset, (hash_type, value) in enumerate(companions, start=1):
            rows.append(
                (top + offset, bank.id, hash_type, value, PLAIN, top, None, None, source, None, actor, now)
            )
        for offset, (hash_type, variant, value) in enumerate(extra, start=1 + len(companions)):
            rows.append(
                (top + offset, bank.id, hash_type, value, variant, top, None, None, source, None, actor, now)
            )
        bank_repository.insert_entry_rows(session, rows)
        self._log_added(session, seq, bank, top, last)
        audit.record(
            session,
            actor=actor,
            action="bank.entry_add_image",
            subject_type="bank_entry",
            subject_id=top,
            details={
                "bank": bank.name,
                "source": source,
                "pdq": hashes.pdq,
                "pdq_quality": hashes.pdq_quality,
                "sha256": hashes.sha256,
                "variants": len(extra),
            },
        )
        return bank_repository.entries_by_ids(session, list(range(top, last + 1)))

    def add_video(
        self,
        session: Session,
        bank_name: str,
        video: VideoHashes,
        *,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "upload",
        actor: str,
    ) -> list[BankEntry]:
        """Add a hashed video (`hash_video`, run by the caller before its transaction: decoding is slow)
        as one entry: the top-level row holds the file's SHA-256 (variant `video`), followed by its MD5
        and one PDQ row per sampled frame (variant `frame:<number>:<ms>:<quality>`). Frames of quality
        below 50 are kept for export but never matched."""
        info = {
            "format": video.format,
            "width": video.width,
            "height": video.height,
            "duration": video.duration,
            "frames": len(video.frames),
            "usable_frames": len(video.usable_frames),
        }
        return self._add_video_rows(
            session,
            bank_name,
            top=("sha256", video.sha256),
            companions=[("md5", video.md5)],
            frames=video.frames,
            info=info,
            note=note,
            metadata=metadata,
            source=source,
            actor=actor,
        )

    def add_video_frames(
        self,
        session: Session,
        bank_name: str,
        frames: Sequence[FrameHash],
        *,
        md5: str | None = None,
        sha256: str | None = None,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "upload",
        actor: str,
    ) -> list[BankEntry]:
        """Add a video known only by its frame hashes (an imported vPDQ list, or a removed video hashed
        earlier), optionally with the file's MD5 (as NCMEC and StopNCII share it) and SHA-256. Without
        the file's SHA-256 the top-level row holds the SHA-256 of the list in vPDQ text form, so
        importing the same list twice is recognisable."""
        if not frames:
            raise ValidationFailed("no frame hashes given", code="no_hashes")
        companions = [] if md5 is None else [("md5", parse_hash("md5", md5)[1])]
        info = {
            "frames": len(frames),
            "usable_frames": sum(1 for f in frames if f.usable),
            "duration": max(f.timestamp for f in frames),
            "imported": True,
        }
        return self._add_video_rows(
            session,
            bank_name,
            top=("sha256", parse_hash("sha256", sha256)[1] if sha256 else frames_digest(list(frames))),
            companions=companions,
            frames=tuple(frames),
            info=info,
            note=note,
            metadata=metadata,
            source=source,
            actor=actor,
        )

    def _add_video_rows(
        self,
        session: Session,
        bank_name: str,
        *,
        top: tuple[str, str],
        companions: list[tuple[str, str]],
        frames: Sequence[FrameHash],
        info: dict[str, Any],
        note: str | None,
        metadata: dict[str, Any] | None,
        source: str,
        actor: str,
    ) -> list[BankEntry]:
        _check_source(source)
        bank = self.get(session, bank_name)
        # One PDQ row per frame, then one per robust variant of it (labelled `...:<kind>`).
        frame_rows = [(frame, None, frame.pdq) for frame in frames] + [
            (frame, kind, value) for frame in frames for kind, value in frame.variants
        ]
        count = 1 + len(companions) + len(frame_rows)
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        last = bank_repository.bump_counter(session, ENTRY_COUNTER, by=count)
        first = last - count + 1
        now = utc_now()
        meta = {**(metadata or {}), "video": info}
        rows: list[EntryRow] = [
            (first, bank.id, top[0], top[1], VIDEO_VARIANT, None, meta, note, source, None, actor, now)
        ]
        for offset, (hash_type, value) in enumerate(companions, start=1):
            rows.append(
                (
                    first + offset,
                    bank.id,
                    hash_type,
                    value,
                    PLAIN,
                    first,
                    None,
                    None,
                    source,
                    None,
                    actor,
                    now,
                )
            )
        start = 1 + len(companions)
        for offset, (frame, kind, value) in enumerate(frame_rows, start=start):
            variant = frame_variant(frame, kind)
            rows.append(
                (
                    first + offset,
                    bank.id,
                    "pdq",
                    value,
                    variant,
                    first,
                    None,
                    None,
                    source,
                    None,
                    actor,
                    now,
                )
            )
        bank_repository.insert_entry_rows(session, rows)
        self._log_added(session, seq, bank, first, last)
        audit.record(
            session,
            actor=actor,
            action="bank.entry_add_video",
            subject_type="bank_entry",
            subject_id=first,
            details={"bank": bank.name, "source": source, top[0]: top[1], **dict(companions), **info},
        )
        return bank_repository.entries_by_ids(session, list(range(first, last + 1)))

    def video_frames(
        self, session: Session, entry_id: int, *, bank_name: str | None = None
    ) -> list[FrameHash]:
        """The frame hashes of a video entry, in time order (for vPDQ text or JSONL export)."""
        entry = self._top_level(session, entry_id, bank_name)
        if entry.variant != VIDEO_VARIANT:
            raise Conflict(f"entry {entry_id} is not a video entry", code="bank_entry_not_video")
        plain: dict[int, FrameHash] = {}
        variants: dict[int, list[tuple[str, str]]] = {}
        for row in bank_repository.children(session, entry.id):
            parsed = parse_frame_variant(row.variant)
            if parsed is None:
                continue
            number, millis, quality, kind = parsed
            if kind is None:
                plain[millis] = FrameHash(number, row.value, quality, millis / 1000)
            else:
                variants.setdefault(millis, []).append((kind, row.value))
        frames = [replace(f, variants=tuple(variants.get(m, ()))) for m, f in plain.items()]
        return sorted(frames, key=lambda f: (f.timestamp, f.frame))

    def get_entry(self, session: Session, entry_id: int, *, bank_name: str | None = None) -> BankEntry:
        entry = bank_repository.entry(session, entry_id)
        if entry is None or (bank_name is not None and entry.bank_id != self.get(session, bank_name).id):
            raise BankEntryNotFound(f"no entry {entry_id}" + (f" in bank '{bank_name}'" if bank_name else ""))
        return entry

    def entry_rows(self, session: Session, entry: BankEntry) -> list[BankEntry]:
        """The companion and variant rows stored under an image entry (empty for bare hashes)."""
        return bank_repository.children(session, entry.id)

    def _top_level(self, session: Session, entry_id: int, bank_name: str | None) -> BankEntry:
        entry = self.get_entry(session, entry_id, bank_name=bank_name)
        if entry.parent_id is not None:
            raise Conflict(
                f"entry {entry_id} is a variant of entry {entry.parent_id}; change that entry instead",
                code="bank_entry_is_variant",
                details={"parent_id": entry.parent_id},
            )
        return entry

    def disable_entry(
        self,
        session: Session,
        entry_id: int,
        *,
        until: datetime | None = None,
        bank_name: str | None = None,
        actor: str,
    ) -> BankEntry:
        """Stop an entry (and its variants) matching, until `until` or indefinitely."""
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        entry = self._top_level(session, entry_id, bank_name)
        disabled_until = until or FOREVER
        if disabled_until.tzinfo is None:
            raise ValidationFailed("until must carry a timezone (UTC)", code="invalid_until")
        return self._set_disabled(session, seq, entry, disabled_until, actor, "bank.entry_disable")

    def enable_entry(
        self, session: Session, entry_id: int, *, bank_name: str | None = None, actor: str
    ) -> BankEntry:
        """Make a disabled entry match again."""
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        entry = self._top_level(session, entry_id, bank_name)
        return self._set_disabled(session, seq, entry, None, actor, "bank.entry_enable")

    def _set_disabled(
        self, session: Session, seq: int, entry: BankEntry, until: datetime | None, actor: str, action: str
    ) -> BankEntry:
        bank_repository.set_disabled_until(session, entry.id, until)
        session.refresh(entry)
        bank_repository.log_change(
            session,
            seq=seq,
            occurred_at=utc_now(),
            kind="entries_updated",
            bank_id=entry.bank_id,
            details={"ids": [entry.id]},
        )
        audit.record(
            session,
            actor=actor,
            action=action,
            subject_type="bank_entry",
            subject_id=entry.id,
            details={"bank_id": entry.bank_id, "disabled_until": until, "value": entry.value},
        )
        return entry

    def delete_entry(
        self, session: Session, entry_id: int, *, bank_name: str | None = None, actor: str
    ) -> None:
        """Delete an entry and its variants; it stops matching at every process's next refresh."""
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        entry = self._top_level(session, entry_id, bank_name)
        rows = [entry, *bank_repository.children(session, entry.id)]
        exact = [[r.hash_type, r.value] for r in rows if not HASH_TYPES[r.hash_type].perceptual]
        details = {
            "bank_id": entry.bank_id,
            "hash_type": entry.hash_type,
            "value": entry.value,
            "rows": len(rows),
        }
        bank_repository.delete_entry_with_children(session, entry.id)
        bank_repository.log_change(
            session,
            seq=seq,
            occurred_at=utc_now(),
            kind="entries_removed",
            bank_id=entry.bank_id,
            details={"ids": [entry.id], "exact": exact},
        )
        audit.record(
            session,
            actor=actor,
            action="bank.entry_delete",
            subject_type="bank_entry",
            subject_id=entry_id,
            details=details,
        )

    def list_entries(
        self,
        session: Session,
        bank_name: str,
        *,
        cursor: str | None = None,
        after: int | None = None,
        limit: int = 100,
        hash_type: str | None = None,
        value: str | None = None,
        include_variants: bool = False,
    ) -> EntryPage:
        """A keyset page of a bank's entries in id order; pass `next_cursor` back as `cursor` for the
        next page (`after`, the last id of the previous page, is the deprecated API alias)."""
        if cursor:
            after = decode_id_cursor(cursor)
        if not 1 <= limit <= 1000:
            raise ValidationFailed("limit must be 1-1000", code="invalid_limit")
        bank = self.get(session, bank_name)
        if value is not None:
            kind, value = parse_hash(hash_type or "pdq", value)
            hash_type = kind.name
        elif hash_type is not None:
            hash_type = get_hash_type(hash_type).name
        items = bank_repository.page_entries(
            session,
            bank.id,
            after=after,
            limit=limit + 1,
            hash_type=hash_type,
            value=value,
            include_variants=include_variants,
        )
        page = page_of(items, limit, lambda e: (e.id,))
        return EntryPage(page.items, page.next_cursor)

    def search_entries(
        self, session: Session, hash_type: str, value: str, *, limit: int = 100
    ) -> list[tuple[BankEntry, str]]:
        """Entries with exactly this hash value in any bank (variants included), with the bank's name."""
        kind, canonical = parse_hash(hash_type, value)
        return bank_repository.find_by_value(session, kind.name, canonical, min(max(limit, 1), 1000))

    # --- import and export ------------------------------------------------------------------------

    def import_lines(
        self,
        session: Session,
        bank_name: str,
        lines: Iterable[str],
        *,
        fmt: FileFormat | str,
        source: str,
        strict: bool = False,
        note: str | None = None,
        actor: str,
        progress: Callable[[int], None] | None = None,
        keep_duplicates: bool = False,
    ) -> ImportReport:
        """Stream a file into a bank in batches (never holding it whole).

        Bad lines are skipped and reported with their line numbers; with `strict`, any bad line raises
        `import_rejected` after the whole file is read (listing them) and the caller's transaction rolls
        back, so nothing is imported. `progress` is called with the number of lines read per batch.
        A line whose hash type and value the bank already holds (in any row, disabled ones included) or
        that an earlier line of the file carried is counted in `duplicates` and not imported, unless
        `keep_duplicates`."""
        fmt = FileFormat(fmt)
        _check_source(source)
        bank = self.get(session, bank_name)
        report = ImportReport()
        now = utc_now()
        # One change row covers the whole import: the entry counter stays locked by this transaction
        # from its first bump, so the ids of all batches form one contiguous range that every matcher
        # reads with a single range query.
        seq = bank_repository.bump_counter(session, CHANGE_COUNTER)
        if bank_repository.stages_imports(session):
            self._import_staged(
                session, bank, lines, fmt, report, strict, keep_duplicates, note, source, actor, now, progress
            )
        else:
            self._import_batches(
                session, bank, lines, fmt, report, strict, keep_duplicates, note, source, actor, now, progress
            )
        if report.first_entry_id is not None and report.last_entry_id is not None:
            self._log_added(session, seq, bank, report.first_entry_id, report.last_entry_id)
        if strict and report.skipped:
            raise ImportRejected(
                f"{report.skipped} bad line(s); nothing was imported (strict)",
                details={
                    "bad_lines": [{"line": b.line, "reason": b.reason} for b in report.bad_lines],
                    "skipped": report.skipped,
                },
            )
        audit.record(
            session,
            actor=actor,
            action="bank.import",
            subject_type="bank",
            subject_id=bank.name,
            details={
                "source": source,
                "format": fmt.value,
                "lines": report.lines,
                "imported": report.imported,
                "skipped": report.skipped,
                "duplicates": report.duplicates,
                "entry_ids": [report.first_entry_id, report.last_entry_id],
            },
        )
        return report

    def _import_batches(
        self,
        session: Session,
        bank: Bank,
        lines: Iterable[str],
        fmt: FileFormat,
        report: ImportReport,
        strict: bool,
        keep_duplicates: bool,
        note: str | None,
        source: str,
        actor: str,
        now: datetime,
        progress: Callable[[int], None] | None,
    ) -> None:
        """SQLite: each batch checked against the bank and inserted in turn."""
        with bank_repository.bulk_mode(session):
            for batch in read_batches(lines, fmt, IMPORT_BATCH):
                report.lines += batch.lines
                report.skipped += len(batch.bad)
                room = MAX_REPORTED_BAD_LINES - len(report.bad_lines)
                if room > 0:
                    report.bad_lines.extend(batch.bad[:room])
                if batch.values and not (strict and report.skipped):
                    self._import_batch(
                        session, bank, batch, report, keep_duplicates, note, source, actor, now
                    )
                if progress is not None:
                    progress(batch.lines)

    def _import_staged(
        self,
        session: Session,
        bank: Bank,
        lines: Iterable[str],
        fmt: FileFormat,
        report: ImportReport,
        strict: bool,
        keep_duplicates: bool,
        note: str | None,
        source: str,
        actor: str,
        now: datetime,
        progress: Callable[[int], None] | None,
    ) -> None:
        """PostgreSQL: every batch COPYed into a staging table, then one set-based de-duplication and
        one INSERT ... SELECT (`ImportStaging`); ids stay in file order, as batch by batch."""
        staging = bank_repository.import_staging(session)
        valid = 0
        for batch in read_batches(lines, fmt, IMPORT_BATCH):
            report.lines += batch.lines
            report.skipped += len(batch.bad)
            room = MAX_REPORTED_BAD_LINES - len(report.bad_lines)
            if room > 0:
                report.bad_lines.extend(batch.bad[:room])
            if batch.values and not (strict and report.skipped):
                staging.add(batch.types, batch.values, value_prefixes(batch.values), batch.metas)
                valid += len(batch.values)
            if progress is not None:
                progress(batch.lines)
        if not valid or (strict and report.skipped):
            return
        count = staging.deduplicate(bank.id, keep_duplicates=keep_duplicates)
        report.duplicates += valid - count
        if not count:
            return
        last = bank_repository.bump_counter(session, ENTRY_COUNTER, by=count)
        first = last - count + 1
        staging.insert(first_id=first, bank_id=bank.id, note=note, source=source, actor=actor, created_at=now)
        report.imported += count
        report.first_entry_id = first
        report.last_entry_id = last

    def _import_batch(
        self,
        session: Session,
        bank: Bank,
        batch: ParsedBatch,
        report: ImportReport,
        keep_duplicates: bool,
        note: str | None,
        source: str,
        actor: str,
        now: datetime,
    ) -> None:
        types, values, metas = batch.types, batch.values, batch.metas
        prefixes = value_prefixes(values)
        if not keep_duplicates:
            types, values, prefixes, metas = self._drop_duplicates(
                session, bank.id, types, values, prefixes, metas
            )
            report.duplicates += len(batch.values) - len(values)
        count = len(values)
        if not count:
            return
        last = bank_repository.bump_counter(session, ENTRY_COUNTER, by=count)
        first = last - count + 1
        bank_repository.insert_plain_entries(
            session,
            first_id=first,
            bank_id=bank.id,
            hash_types=types,
            values=values,
            prefixes=prefixes,
            metas=metas,
            note=note,
            source=source,
            actor=actor,
            created_at=now,
        )
        report.imported += count
        report.first_entry_id = report.first_entry_id or first
        report.last_entry_id = last

    def _drop_duplicates(
        self,
        session: Session,
        bank_id: int,
        types: list[str],
        values: list[str],
        prefixes: list[int],
        metas: list[dict[str, Any] | None] | None,
    ) -> tuple[list[str], list[str], list[int], list[dict[str, Any] | None] | None]:
        """The batch without values the bank already holds and without repeats within the batch (the
        first occurrence stays). Earlier batches of the same import are rows by now, so they count."""
        known: set[tuple[str, str]] = set()
        kinds = set(types)
        for hash_type in kinds:
            wanted = (
                prefixes
                if len(kinds) == 1
                else [p for t, p in zip(types, prefixes, strict=True) if t == hash_type]
            )
            known.update(
                (hash_type, v) for v in bank_repository.existing_values(session, bank_id, hash_type, wanted)
            )
        if not known and len(set(values)) == len(values):
            return types, values, prefixes, metas
        keep: list[int] = []
        for index, key in enumerate(zip(types, values, strict=True)):
            if key not in known:
                known.add(key)
                keep.append(index)
        return (
            [types[i] for i in keep],
            [values[i] for i in keep],
            [prefixes[i] for i in keep],
            None if metas is None else [metas[i] for i in keep],
        )

    def export_lines(self, session: Session, bank_name: str, fmt: FileFormat | str) -> Iterator[str]:
        """The bank's hashes as lines of `fmt` (plain rows only: robust variants are derived data and are
        not exported; a PDQ hex export holds only PDQ values). Reads in keyset batches."""
        fmt = FileFormat(fmt)
        bank = self.get(session, bank_name)
        if fmt is FileFormat.CSV:
            yield CSV_HEADER
        elif fmt is FileFormat.TE_CSV:
            yield TE_CSV_HEADER
        for _id, hash_type, value, metadata in bank_repository.iter_export_rows(session, bank.id):
            line = format_row(fmt, hash_type, value, metadata)
            if line is not None:
                yield line

    def record_export(self, session: Session, bank_name: str, fmt: FileFormat | str, *, actor: str) -> Bank:
        """Audit an export before it streams (hash lists are sensitive data leaving the service)."""
        bank = self.get(session, bank_name)
        audit.record(
            session,
            actor=actor,
            action="bank.export",
            subject_type="bank",
            subject_id=bank.name,
            details={"format": FileFormat(fmt).value},
        )
        return bank

    def stream_export(self, engine: Engine, bank_name: str, fmt: FileFormat | str) -> Iterator[str]:
        """`export_lines` in a read session of its own, for responses that stream after the request's
        transaction has ended. On SQLite the read uses a deferred transaction so that a slow download
        never holds the write lock."""
        reader = engine
        if engine.dialect.name == "sqlite":
            reader = make_engine(engine.url.render_as_string(hide_password=False), sqlite_immediate=False)
        try:
            with session_factory(reader)() as session:
                yield from self.export_lines(session, bank_name, fmt)
        finally:
            if reader is not engine:
                reader.dispose()

    def _log_added(self, session: Session, seq: int, bank: Bank, first: int, last: int) -> None:
        bank_repository.log_change(
            session,
            seq=seq,
            occurred_at=utc_now(),
            kind="entries_added",
            bank_id=bank.id,
            first_entry_id=first,
            last_entry_id=last,
        )


banks = BankService()
