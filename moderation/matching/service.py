"""The match service: per hash type an in-memory index of every bank entry, refreshed incrementally.

Lifecycle: `matcher.start(engine, snapshot_dir=...)` loads the latest on-disk snapshot (memory-mapped:
one copy per machine, shared through the page cache) plus the bank change log since the snapshot's
change sequence; without a usable snapshot it loads everything from the database. A refresher thread
then applies the change log every `MODERATION_MATCH_REFRESH_SECONDS`: only the new changes, never a
rebuild, so an added entry matches and a disabled or deleted one stops matching within a refresh
interval in every running process. A bulk import is one change row naming an id range, applied with one
range read. `matcher.match(hashes)` answers from memory; `stop()` ends the thread and drops the state.
`save_snapshot(dir)` (the `matching.snapshot_index` job) writes a new snapshot atomically.

Over 700 lines on purpose: one responsibility (the process's index and its lifecycle: load, refresh,
snapshot, match), whose parts share the index state and its lock.

Index layout: perceptual hashes live in `HammingIndex`es keyed by the *top-level* entry id, so the robust
variants stored with an image entry (crops, trimmed frame, colour shifts) report their entry once, at its
best distance. Rotation/flip variants sit in a separate PDQ index that is searched only for banks with
`match_rotations`. Exact types (SHA-256, MD5) are dictionaries. Disabled entries and banks stay indexed
and are filtered per query, so disabling, re-enabling and `disabled_until` expiry cost nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.db import make_engine, session_factory
from moderation.hashing.hashers import DIHEDRAL_TRANSPOSES
from moderation.hashing.robust import PLAIN
from moderation.hashing.types import HASH_TYPES, parse_hash
from moderation.hashing.video import FrameHash, parse_frame_variant
from moderation.kit.time import utc_now
from moderation.matching.errors import IndexSnapshotInvalid, MatchIndexUnavailable, TooManyHashes
from moderation.matching.index import HammingIndex
from moderation.matching.repository import BankRow, ChangeRow, EntryColumns, match_repository
from moderation.matching.video import (
    UNINDEXED_VARIANTS,
    Segment,
    VideoFrames,
    compare,
    find_candidates,
    frame_of,
    query_frames,
    segment_gap,
    segments,
)

log = logging.getLogger("moderation.matching")

MAX_HASHES_PER_QUERY = 256
PDQ_ROTATED = "pdq_rotated"
# Frames of video entries, keyed by the frame row's own id (not the video's), so a hit names the frame.
PDQ_FRAME = "pdq_frame"
LOAD_PAGE = 100_000
PERCEPTUAL_KINDS = ("pdq", PDQ_ROTATED, PDQ_FRAME, "phash", "dhash")
SNAPSHOT_FORMAT = 2
MAX_VIDEO_FRAMES_PER_QUERY = 10_000
SNAPSHOT_NAME = re.compile(r"^\d{12}$")
_ROTATION_VARIANTS = frozenset(DIHEDRAL_TRANSPOSES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snapshot_directory(settings: Settings) -> Path:
    """Where snapshots live: `<MODERATION_DATA_DIR>/match-index/<change seq>/`."""
    return Path(settings.data_dir) / "match-index"


def prune_snapshots(directory: Path, *, keep: int) -> list[int]:
    """Delete all but the newest `keep` snapshots (and stale temporary folders); returns the change
    sequence numbers of those kept. Processes that mapped a deleted snapshot keep reading it: the files
    stay on disk until the last mapping closes."""
    directory = Path(directory)
    names = sorted((p.name for p in directory.iterdir() if SNAPSHOT_NAME.match(p.name)), reverse=True)
    for name in names[keep:]:
        shutil.rmtree(directory / name, ignore_errors=True)
    for leftover in directory.glob(".tmp-*"):
        if time.time() - leftover.stat().st_mtime > 24 * 3600:
            shutil.rmtree(leftover, ignore_errors=True)
    return [int(name) for name in names[:keep]]


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    seq: int
    entries: int
    seconds: float


@dataclass(frozen=True)
class Match:
    """One bank entry matching one query hash.

    `query` is the position of the hash in the request, `entry_id` the top-level entry (an image entry
    when a robust `variant` matched), `threshold` the bank's threshold for the hash type. An allow-list
    match suppresses the other banks' matches of the same content: they stay in the result with
    `suppressed_by` naming the allow bank, so callers can show why nothing was blocked."""

    query: int
    hash_type: str
    value: str
    bank: str
    bank_id: int
    entry_id: int
    variant: str
    distance: int
    threshold: int
    action: str
    suppressed_by: str | None = None


def _index_kind(hash_type: str, variant: str) -> str:
    if hash_type == "pdq" and variant in _ROTATION_VARIANTS:
        return PDQ_ROTATED
    return hash_type


def _index_bits(kind: str) -> int:
    return HASH_TYPES["pdq" if kind in (PDQ_ROTATED, PDQ_FRAME) else kind].bits


# A video query searches many frames at once: the frame index buys speed with memory (measured in
# benchmarks/RESULTS.md, "Video matching").
_MEMORY_BUDGET: dict[str, float] = {PDQ_FRAME: 100.0}


def _new_index(kind: str) -> HammingIndex:
    return HammingIndex(_index_bits(kind), memory_budget=_MEMORY_BUDGET.get(kind))


@dataclass(frozen=True)
class VideoMatch:
    """One bank entry matching a query video.

    `kind` is `video` (vPDQ: `query_match_pct` of the query's usable frames are within the bank's PDQ
    threshold of the entry's frames, and `entry_match_pct` of the entry's usable frames are matched),
    `image` (an image entry matched one or more frames: a banked still appears in the video) or `exact`
    (the file's SHA-256 or MD5). Segments are where the matched frames lie in the query and in the entry."""

    kind: str
    bank: str
    bank_id: int
    entry_id: int
    action: str
    hash_type: str
    distance: int
    threshold: int
    query_match_pct: float
    entry_match_pct: float | None
    frames_matched: int
    query_segments: tuple[Segment, ...]
    entry_segments: tuple[Segment, ...]
    suppressed_by: str | None = None

    @property
    def variant(self) -> str:
        """How the entry matched (`video`, `image` or `exact`), in the shape image matches name it."""
        return self.kind


def _rows_of(values: Sequence[str], nbytes: int) -> np.ndarray:
    raw = bytes.fromhex("".join(values))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), nbytes)


class _Pending:
    """Codes to add, grouped by index kind, as (ids, codes) arrays per page (ids: top-level entry ids)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.last_top: tuple[int, str, str] = (0, "", "")

    def add(self, kind: str, ids: Sequence[int], values: Sequence[str]) -> None:
        if ids:
            codes = _rows_of(values, _index_bits(kind) // 8)
            self.parts.setdefault(kind, []).append((np.asarray(ids, np.int64), codes))

    def arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            kind: (np.concatenate([i for i, _ in parts]), np.concatenate([c for _, c in parts]))
            for kind, parts in self.parts.items()
        }


class MatchService:
    """Matches hashes against every enabled bank. One instance per process (`matcher`)."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._own_engine = False
        self._state = "stopped"
        self._banks: dict[int, BankRow] = {}
        self._indexes: dict[str, HammingIndex] = {}
        self._exact: dict[str, dict[str, list[int]]] = {}
        self._bank_of = np.zeros(1024, dtype=np.int32)
        self._disabled: dict[int, datetime] = {}
        self._variants: dict[int, list[tuple[str, str, int]]] = {}
        self._videos: dict[int, VideoFrames] = {}
        self._video_tops = np.zeros(0, np.int64)
        self._entries = 0
        self._seq = 0
        self._loaded_from = "database"
        self._last_refresh: float | None = None
        self._last_error: str | None = None
        self._interval = 2.0
        self._snapshot_dir: Path | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(
        self,
        engine: Engine,
        *,
        refresh_seconds: float = 2.0,
        background: bool = True,
        snapshot_dir: Path | None = None,
    ) -> None:
        """Load the current state (the latest snapshot under `snapshot_dir` plus the change log since,
        or the database when there is no usable snapshot) and, with `background`, start the refresher.
        Calling it again restarts from scratch against `engine`."""
        self.stop()
        if engine.dialect.name == "sqlite":
            # The service's SQLite engine takes the write lock at BEGIN; a poller must not.
            self._engine = make_engine(
                engine.url.render_as_string(hide_password=False), sqlite_immediate=False
            )
            self._own_engine = True
        else:
            self._engine = engine
        self._interval = refresh_seconds
        self._snapshot_dir = snapshot_dir
        self._state = "loading"
        self._load_current()
        self._state = "ready"
        if background:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="match-index-refresher", daemon=True)
            self._thread.start()

    def ensure_started(self, engine: Engine, *, refresh_seconds: float = 2.0) -> None:
        """Start unless already running (for callers outside the web app, e.g. jobs and the CLI)."""
        if self._state == "stopped":
            self.start(engine, refresh_seconds=refresh_seconds)

    def stop(self) -> None:
        """Stop the refresher and drop the in-memory state."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._own_engine and self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._own_engine = False
        self._reset()
        self._state = "stopped"

    def _reset(self) -> None:
        self._banks = {}
        self._indexes = {kind: _new_index(kind) for kind in PERCEPTUAL_KINDS}
        self._exact = {name: {} for name, t in HASH_TYPES.items() if not t.perceptual}
        self._bank_of = np.zeros(1024, dtype=np.int32)
        self._disabled = {}
        self._variants = {}
        self._videos = {}
        self._video_tops = np.zeros(0, np.int64)
        self._entries = 0
        self._seq = 0
        self._last_refresh = None
        self._last_error = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.refresh()
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.exception("match index refresh failed")

    def _session(self) -> Session:
        if self._engine is None:
            raise MatchIndexUnavailable("the match index is not started")
        return session_factory(self._engine)()

    def _load_current(self) -> None:
        """The latest usable snapshot plus the change log since; else a full load from the database."""
        if self._snapshot_dir is not None:
            try:
                self._load_snapshot(self._snapshot_dir)
            except (IndexSnapshotInvalid, OSError, ValueError, KeyError) as error:
                message = error.message if isinstance(error, IndexSnapshotInvalid) else repr(error)
                log.warning("match index snapshot not used (%s); loading from the database", message)
            else:
                return
        self._load()

    def _load(self) -> None:
        self._reset()
        self._loaded_from = "database"
        with self._refresh_lock, self._session() as session:
            # Changes are read from this sequence number on; entries the load already saw are skipped
            # when their change is applied, so nothing is lost or doubled between the two reads.
            self._seq = match_repository.last_change_seq(session)
            self._banks = {b.id: b for b in match_repository.banks(session)}
            pending = _Pending()
            after = 0
            while True:
                page = match_repository.entry_columns(session, after=after, limit=LOAD_PAGE)
                if not page.ids:
                    break
                self._stage(page, pending)
                after = page.ids[-1]
            for kind, (ids, codes) in pending.arrays().items():
                if kind in self._indexes:
                    self._indexes[kind] = HammingIndex.build(
                        _index_bits(kind), ids, codes, memory_budget=_MEMORY_BUDGET.get(kind)
                    )
        self._last_refresh = time.monotonic()
        self._apply_pending_changes()

    # --- snapshots --------------------------------------------------------------------------------

    def save_snapshot(self, directory: Path) -> SnapshotInfo:
        """Write the current state as `directory/<change seq>/`, atomically: files go to a temporary
        folder that is renamed into place once complete (a reader sees a whole snapshot or none).
        Refreshes wait while it writes, so the files and the sequence number agree."""
        if self._state != "ready":
            raise MatchIndexUnavailable(f"the match index is {self._state}")
        started = time.perf_counter()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with self._refresh_lock:
            seq = self._seq
            final = directory / f"{seq:012d}"
            if (final / "manifest.json").is_file():
                return SnapshotInfo(final, seq, self._entries, time.perf_counter() - started)
            tmp = directory / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            try:
                kinds = []
                for kind, index in self._indexes.items():
                    if len(index):
                        index.save(tmp / f"{kind}.idx")
                        kinds.append(kind)
                np.save(tmp / "bank_of.npy", self._bank_of)
                np.savez(tmp / "side.npz", **self._side_arrays())  # type: ignore[arg-type]
                manifest = {
                    "format": SNAPSHOT_FORMAT,
                    "seq": seq,
                    "entries": self._entries,
                    "kinds": kinds,
                    "created_at": utc_now().isoformat(),
                }
                with open(tmp / "manifest.json", "w") as handle:
                    json.dump(manifest, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            entries = self._entries
        return SnapshotInfo(final, seq, entries, time.perf_counter() - started)

    def _side_arrays(self) -> dict[str, np.ndarray]:
        """Disabled entries, image-entry variants and exact-hash tables as plain arrays (no pickle)."""
        disabled = sorted(self._disabled.items())
        variants = [
            (top, kind, name, code) for top, rows in self._variants.items() for kind, name, code in rows
        ]
        arrays: dict[str, np.ndarray] = {
            "disabled_ids": np.array([i for i, _ in disabled], dtype=np.int64),
            "disabled_until_us": np.array(
                [(u - _EPOCH) // timedelta(microseconds=1) for _, u in disabled], dtype=np.int64
            ),
            "variant_tops": np.array([v[0] for v in variants], dtype=np.int64),
            "variant_kinds": np.array([v[1] for v in variants], dtype=np.str_),
            "variant_names": np.array([v[2] for v in variants], dtype=np.str_),
            "variant_codes": np.array([f"{v[3]:x}" for v in variants], dtype=np.str_),
        }
        tops = sorted(self._videos)
        videos = [self._videos[top] for top in tops]
        arrays["video_tops"] = np.array(tops, dtype=np.int64)
        arrays["video_offsets"] = np.cumsum([0, *(v.rows.shape[0] for v in videos)], dtype=np.int64)
        for name in ("rows", "millis", "numbers"):
            arrays[f"video_{name}"] = (
                np.concatenate([getattr(v, name) for v in videos]) if videos else np.zeros(0, np.int64)
            )
        arrays["video_codes"] = (
            np.concatenate([v.codes for v in videos]) if videos else np.zeros((0, 32), np.uint8)
        )
        for hash_type, table in self._exact.items():
            pairs = [(value, top) for value, tops in table.items() for top in tops]
            arrays[f"exact_{hash_type}_values"] = np.array([p[0] for p in pairs], dtype=np.str_)
            arrays[f"exact_{hash_type}_ids"] = np.array([p[1] for p in pairs], dtype=np.int64)
        return arrays

    def _load_snapshot(self, directory: Path) -> None:
        candidates = sorted(
            (p for p in Path(directory).iterdir() if SNAPSHOT_NAME.match(p.name))
            if Path(directory).is_dir()
            else (),
            reverse=True,
        )
        if not candidates:
            raise IndexSnapshotInvalid(f"no snapshot in {directory}")
        path = candidates[0]
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("format") != SNAPSHOT_FORMAT:
            raise IndexSnapshotInvalid(f"{path} has snapshot format {manifest.get('format')}")
        seq = int(manifest["seq"])
        with self._session() as session:
            pruned = match_repository.pruned_through(session)
        if seq < pruned:
            raise IndexSnapshotInvalid(
                f"{path} (change {seq}) is older than the pruned change log ({pruned})"
            )
        self._reset()
        with self._refresh_lock:
            indexes = {kind: _new_index(kind) for kind in PERCEPTUAL_KINDS}
            for kind in manifest["kinds"]:
                if kind not in indexes:
                    raise IndexSnapshotInvalid(f"{path}: unknown index {kind!r}")
                index = HammingIndex.load(path / f"{kind}.idx", memory_budget=_MEMORY_BUDGET.get(kind))
                if index.bits != _index_bits(kind):
                    raise IndexSnapshotInvalid(f"{path}: {kind} index has {index.bits} bits")
                indexes[kind] = index
            # Copy-on-write: pages stay shared with other processes until this one changes them.
            bank_of = np.load(path / "bank_of.npy", mmap_mode="c", allow_pickle=False)
            if bank_of.dtype != np.int32 or bank_of.ndim != 1:
                raise IndexSnapshotInvalid(f"{path}: bank_of.npy has the wrong type")
            with np.load(path / "side.npz", allow_pickle=False) as side:
                disabled = {
                    int(i): _EPOCH + timedelta(microseconds=int(us))
                    for i, us in zip(
                        side["disabled_ids"].tolist(), side["disabled_until_us"].tolist(), strict=True
                    )
                }
                variants: dict[int, list[tuple[str, str, int]]] = {}
                for top, kind, name, code in zip(
                    side["variant_tops"].tolist(),
                    side["variant_kinds"].tolist(),
                    side["variant_names"].tolist(),
                    side["variant_codes"].tolist(),
                    strict=True,
                ):
                    variants.setdefault(int(top), []).append((kind, name, int(code, 16)))
                offsets = side["video_offsets"].tolist()
                video_arrays = [side[f"video_{n}"] for n in ("rows", "codes", "millis", "numbers")]
                videos = {
                    int(top): VideoFrames(*(a[offsets[i] : offsets[i + 1]] for a in video_arrays))
                    for i, top in enumerate(side["video_tops"].tolist())
                }
                exact: dict[str, dict[str, list[int]]] = {}
                for hash_type in self._exact:
                    table: dict[str, list[int]] = {}
                    values = side[f"exact_{hash_type}_values"].tolist()
                    ids = side[f"exact_{hash_type}_ids"].tolist()
                    for value, top in zip(values, ids, strict=True):
                        table.setdefault(value, []).append(int(top))
                    exact[hash_type] = table
            self._indexes = indexes
            self._bank_of = bank_of
            self._disabled = disabled
            self._variants = variants
            self._videos = videos
            self._video_tops = np.array(sorted(videos), dtype=np.int64)
            self._exact = exact
            self._entries = int(manifest["entries"])
            self._seq = seq
            with self._session() as session:
                self._banks = {b.id: b for b in match_repository.banks(session)}
        self._loaded_from = f"snapshot {path.name}"
        log.info("match index loaded from snapshot %s (change %d, %d entries)", path, seq, self._entries)
        self._last_refresh = time.monotonic()
        self._apply_pending_changes()

    def prune_change_log(self, session: Session, *, through_seq: int, older_than: timedelta) -> int:
        """Delete change rows covered by the snapshot at `through_seq` and older than `older_than`; a
        process still behind them notices the pruned watermark and reloads. Returns rows deleted."""
        return match_repository.prune_changes(
            session, through_seq=through_seq, occurred_before=utc_now() - older_than
        )

    # --- refresh ----------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply the changes committed since the last refresh; returns how many were applied. If the
        change log was pruned past this process's state (it fell far behind), reload instead."""
        applied = self._apply_pending_changes()
        self._last_error = None
        return applied

    def _apply_pending_changes(self) -> int:
        applied = 0
        stale = False
        with self._refresh_lock, self._session() as session:
            while True:
                seen = self._seq
                changes = match_repository.changes_after(session, self._seq)
                # Read after the changes: a prune committed before that read is visible here.
                if match_repository.pruned_through(session) > seen:
                    stale = True
                    break
                if not changes:
                    break
                for change in changes:
                    self._apply(session, change)
                    self._seq = change.seq
                    applied += 1
        if stale:
            log.warning("the bank change log was pruned past change %d; reloading the match index", self._seq)
            # Queries get `match_index_unavailable` while the state is rebuilt (and until a failed
            # rebuild succeeds at a later refresh), never a silent miss.
            self._state = "loading"
            self._load_current()
            self._state = "ready"
            return applied
        self._last_refresh = time.monotonic()
        return applied

    def _apply(self, session: Session, change: ChangeRow) -> None:
        if change.kind == "bank_upsert":
            rows = match_repository.banks(session, [change.bank_id])
            banks = dict(self._banks)
            for row in rows:
                banks[row.id] = row
            self._banks = banks
        elif change.kind == "entries_added" and change.first_entry_id is not None:
            self._add_range(session, change.bank_id, change.first_entry_id, change.last_entry_id or 0)
        elif change.kind == "entries_updated":
            ids = [int(i) for i in change.details.get("ids", [])]
            for entry_id, until in match_repository.disabled_until(session, ids).items():
                if until is None:
                    self._disabled.pop(entry_id, None)
                else:
                    self._disabled[entry_id] = until
        elif change.kind == "entries_removed":
            self._remove([int(i) for i in change.details.get("ids", [])], change.details.get("exact", []))

    def _add_range(self, session: Session, bank_id: int, first: int, last: int) -> None:
        self._grow(last)
        # Ids in the range that the start-up load (or the snapshot) already indexed.
        known = self._bank_of[first : last + 1] != 0
        any_known = bool(known.any())
        pending = _Pending()
        after = first - 1
        while True:
            page = match_repository.entry_columns(
                session, after=after, limit=LOAD_PAGE, bank_id=bank_id, last=last
            )
            if not page.ids:
                break
            after = page.ids[-1]
            if any_known:
                tops = np.array([p or i for i, p in zip(page.ids, page.parent_ids, strict=True)], np.int64)
                keep = ~known[tops - first]
                if not keep.all():
                    flags = keep.tolist()
                    page = EntryColumns._make(
                        [v for v, k in zip(column, flags, strict=True) if k] for column in page
                    )
            self._stage(page, pending)
        for kind, (ids, codes) in pending.arrays().items():
            if kind in self._indexes:
                self._indexes[kind].add(ids, codes)

    def _stage(self, page: EntryColumns, pending: _Pending) -> None:
        """Record bank, disabled state and variants of a page of entries; queue their codes."""
        count = len(page.ids)
        if not count:
            return
        self._grow(page.ids[-1])
        kinds = set(page.hash_types)
        if (
            page.parent_ids.count(None) == count
            and page.disabled_until.count(None) == count
            and len(kinds) == 1
            and (kind := next(iter(kinds))) in self._indexes
            and kind != PDQ_ROTATED
            and page.variants.count(PLAIN) == count
        ):
            # Bulk imports: top-level, enabled, one perceptual type. Vectorised.
            self._bank_of[np.asarray(page.ids, np.int64)] = np.asarray(page.bank_ids, np.int32)
            self._entries += count
            pending.add(kind, page.ids, page.values)
            pending.last_top = (page.ids[-1], kind, page.values[-1])
            return
        by_kind: dict[str, tuple[list[int], list[str]]] = {}
        frames: dict[int, list[tuple[int, str, int, int]]] = {}
        for entry_id, bank_id, hash_type, value, variant, parent_id, until in zip(*page, strict=True):
            top = parent_id or entry_id
            frame = parse_frame_variant(variant) if parent_id is not None else None
            if frame is not None:
                number, millis, quality, variant_kind = frame
                if FrameHash(number, value, quality, millis / 1000).usable:
                    frames.setdefault(top, []).append((entry_id, value, millis, number))
                    if variant_kind not in UNINDEXED_VARIANTS:
                        ids, values = by_kind.setdefault(PDQ_FRAME, ([], []))
                        ids.append(entry_id)
                        values.append(value)
                continue
            kind = _index_kind(hash_type, variant)
            if parent_id is None:
                self._bank_of[entry_id] = bank_id
                self._entries += 1
                if until is not None:
                    self._disabled[entry_id] = until
                pending.last_top = (entry_id, kind, value)
            elif HASH_TYPES[hash_type].perceptual:
                stored = self._variants.get(top)
                if stored is None:
                    # Variant rows directly follow their entry's own row (ids allocated together).
                    stored = self._variants[top] = []
                    if pending.last_top[0] == top and pending.last_top[1] in self._indexes:
                        stored.append((pending.last_top[1], PLAIN, int(pending.last_top[2], 16)))
                stored.append((kind, variant, int(value, 16)))
            if kind in self._exact:
                self._exact[kind].setdefault(value, []).append(top)
            else:
                ids, values = by_kind.setdefault(kind, ([], []))
                ids.append(top)
                values.append(value)
        for kind, (ids, values) in by_kind.items():
            pending.add(kind, ids, values)
        if frames:
            videos = dict(self._videos)
            for top, rows in frames.items():
                video = VideoFrames(
                    np.array([r[0] for r in rows], np.int64),
                    _rows_of([r[1] for r in rows], 32).copy(),
                    np.array([r[2] for r in rows], np.int64),
                    np.array([r[3] for r in rows], np.int64),
                )
                known = videos.get(top)
                videos[top] = video if known is None else known.extended(video)
            self._video_tops = np.array(sorted(videos), dtype=np.int64)
            self._videos = videos

    def _grow(self, max_id: int) -> None:
        if max_id < self._bank_of.shape[0]:
            return
        size = max(max_id + 1, self._bank_of.shape[0] * 2)
        grown = np.zeros(size, dtype=np.int32)
        grown[: self._bank_of.shape[0]] = self._bank_of
        self._bank_of = grown

    def _remove(self, ids: list[int], exact: list[list[str]]) -> None:
        if not ids:
            return
        for index in self._indexes.values():
            index.remove(np.asarray(ids, np.int64))
        gone = set(ids)
        frame_rows = [self._videos[i].rows for i in gone if i in self._videos]
        if frame_rows:
            self._indexes[PDQ_FRAME].remove(np.concatenate(frame_rows))
            videos = {top: video for top, video in self._videos.items() if top not in gone}
            self._video_tops = np.array(sorted(videos), dtype=np.int64)
            self._videos = videos
        for hash_type, value in exact:
            holders = self._exact.get(hash_type, {}).get(value)
            if holders is not None:
                holders[:] = [i for i in holders if i not in gone]
                if not holders:
                    del self._exact[hash_type][value]
        for entry_id in ids:
            if entry_id < self._bank_of.shape[0] and self._bank_of[entry_id]:
                self._bank_of[entry_id] = 0
                self._entries -= 1
            self._disabled.pop(entry_id, None)
            self._variants.pop(entry_id, None)

    # --- matching ---------------------------------------------------------------------------------

    def match(
        self, hashes: Sequence[tuple[str, str]], *, groups: Sequence[Hashable] | None = None
    ) -> list[Match]:
        """Every entry of an enabled bank within that bank's threshold of each hash.

        `hashes` are (type, value) pairs; values are validated (`invalid_hash`). By default all hashes
        describe one piece of content (for example the PDQ, trimmed PDQ and MD5 of one upload); `groups`
        gives each hash a content label instead, and allow-list suppression applies within a label.
        Results are ordered by query position, then distance, then entry id."""
        if self._state != "ready":
            raise MatchIndexUnavailable(f"the match index is {self._state}")
        if len(hashes) > MAX_HASHES_PER_QUERY:
            raise TooManyHashes(
                f"at most {MAX_HASHES_PER_QUERY} hashes per request, got {len(hashes)}",
                details={"max": MAX_HASHES_PER_QUERY},
            )
        if groups is not None and len(groups) != len(hashes):
            raise ValueError("groups must label every hash")
        parsed = [parse_hash(t, v) for t, v in hashes]
        banks = self._banks
        now = utc_now()
        found: dict[tuple[int, int], Match] = {}

        def consider(query: int, kind: str, entry_id: int, distance: int, variant: str | None = None) -> None:
            bank_id = int(self._bank_of[entry_id]) if entry_id < self._bank_of.shape[0] else 0
            bank = banks.get(bank_id)
            if bank is None or not bank.enabled:
                return
            if kind == PDQ_ROTATED and not bank.match_rotations:
                return
            until = self._disabled.get(entry_id)
            if until is not None and until > now:
                return
            hash_type, value = parsed[query][0].name, parsed[query][1]
            threshold = int(bank.thresholds.get(hash_type, 0))
            if distance > threshold:
                return
            previous = found.get((query, entry_id))
            if previous is not None and previous.distance <= distance:
                return
            found[(query, entry_id)] = Match(
                query=query,
                hash_type=hash_type,
                value=value,
                bank=bank.name,
                bank_id=bank.id,
                entry_id=entry_id,
                variant=variant or self._variant(entry_id, kind, value, distance),
                distance=distance,
                threshold=threshold,
                action=bank.action,
            )

        by_kind: dict[str, list[int]] = {}
        for position, (hash_type, value) in enumerate(parsed):
            if hash_type.perceptual:
                by_kind.setdefault(hash_type.name, []).append(position)
            else:
                for entry_id in self._exact.get(hash_type.name, {}).get(value, ()):
                    consider(position, hash_type.name, entry_id, 0)
        videos, tops = self._videos, self._video_tops
        for type_name, positions in by_kind.items():
            kinds = [type_name] + ([PDQ_ROTATED, PDQ_FRAME] if type_name == "pdq" else [])
            for kind in kinds:
                radius = self._radius(banks, type_name, rotations_only=kind == PDQ_ROTATED)
                if radius is None:
                    continue
                codes = _rows_of([parsed[p][1] for p in positions], _index_bits(kind) // 8)
                for position, hits in zip(positions, self._indexes[kind].search(codes, radius), strict=True):
                    for hit in hits:
                        if kind == PDQ_FRAME:
                            # A frame of a banked video: reported as that video, naming the frame.
                            located = frame_of(videos, tops, int(hit.id))
                            if located is not None:
                                consider(position, kind, located[0], int(hit.distance), located[1])
                        else:
                            consider(position, kind, int(hit.id), int(hit.distance))
        return _suppress(found.values(), groups)

    def match_video(
        self, frames: Sequence[FrameHash], *, exact: Sequence[tuple[str, str]] = ()
    ) -> list[VideoMatch]:
        """Every entry of an enabled bank that a video matches: video entries by vPDQ (each bank's PDQ
        threshold, Q and C), image entries by any frame, and any entry by the file's exact hashes.

        Frames are looked up in the frame index, not scanned: a video entry can only reach Q% through
        the query frames' PDQ if one of any `floor(n * (1 - Q/100)) + 1` distinct query frames matches
        it, so that many frames, spread evenly, are searched (all of them when some bank's Q is 0) to
        find the candidates; each candidate is then compared with every query frame through all codes
        (PDQ, crop and band variants, `matching.video`). Frames of quality below 50 are ignored, as
        vPDQ does. Allow-bank matches suppress the others, as for images."""
        if self._state != "ready":
            raise MatchIndexUnavailable(f"the match index is {self._state}")
        if len(frames) > MAX_VIDEO_FRAMES_PER_QUERY:
            raise TooManyHashes(
                f"at most {MAX_VIDEO_FRAMES_PER_QUERY} frames per video, got {len(frames)}",
                details={"max": MAX_VIDEO_FRAMES_PER_QUERY},
            )
        banks, videos, tops = self._banks, self._videos, self._video_tops
        now = utc_now()

        def bank_of(entry_id: int) -> BankRow | None:
            bank_id = int(self._bank_of[entry_id]) if entry_id < self._bank_of.shape[0] else 0
            bank = banks.get(bank_id)
            if bank is None or not bank.enabled:
                return None
            until = self._disabled.get(entry_id)
            return None if until is not None and until > now else bank

        usable = [f for f in frames if f.usable]
        times = np.array([f.timestamp for f in usable], dtype=np.float64)
        gap = segment_gap(times)
        last = float(times.max()) if times.size else 0.0
        found: dict[int, VideoMatch] = {}
        for type_name, value in exact:
            hash_type, canonical = parse_hash(type_name, value)
            for entry_id in self._exact.get(hash_type.name, {}).get(canonical, ()):
                bank = bank_of(entry_id)
                if bank is None or entry_id in found:
                    continue
                video = videos.get(entry_id)
                found[entry_id] = VideoMatch(
                    kind="exact",
                    bank=bank.name,
                    bank_id=bank.id,
                    entry_id=entry_id,
                    action=bank.action,
                    hash_type=hash_type.name,
                    distance=0,
                    threshold=0,
                    query_match_pct=100.0,
                    entry_match_pct=100.0 if video is not None else None,
                    frames_matched=len(usable),
                    query_segments=(Segment(0.0, last),) if usable else (),
                    entry_segments=(Segment(0.0, float(video.millis.max()) / 1000),)
                    if video is not None and video.millis.size
                    else (),
                )
        radius = self._radius(banks, "pdq", rotations_only=False)
        if usable and radius is not None:
            query = query_frames(usable)
            q_min = min((b.video_query_match_pct for b in banks.values() if b.enabled), default=100.0)
            candidates = find_candidates(self._indexes[PDQ_FRAME], videos, tops, query, radius, q_min)
            for entry_id in sorted(candidates - found.keys()):
                bank = bank_of(entry_id)
                threshold = None if bank is None else bank.thresholds.get("pdq")
                video = videos.get(entry_id)
                if bank is None or threshold is None or video is None or not video.rows.size:
                    continue
                result = compare(query, video, int(threshold))
                query_hit, entry_hit = result.query_hit, result.entry_hit
                query_pct, entry_pct = result.query_pct, result.entry_pct
                if not query_hit.any() or query_pct < bank.video_query_match_pct:
                    continue
                if entry_pct < bank.video_compared_match_pct:
                    continue
                found[entry_id] = VideoMatch(
                    kind="video",
                    bank=bank.name,
                    bank_id=bank.id,
                    entry_id=entry_id,
                    action=bank.action,
                    hash_type="pdq",
                    distance=result.distance,
                    threshold=int(threshold),
                    query_match_pct=round(query_pct, 2),
                    entry_match_pct=round(entry_pct, 2),
                    frames_matched=int(query_hit.sum()),
                    query_segments=segments(times[query_hit].tolist(), gap),
                    entry_segments=segments(
                        result.entry_seconds[entry_hit].tolist(), segment_gap(result.entry_seconds)
                    ),
                )
            stills: dict[int, tuple[list[int], int]] = {}
            for position, hits in enumerate(self._indexes["pdq"].search(query.plain, radius)):
                for hit in hits:
                    entry_id, distance = int(hit.id), int(hit.distance)
                    bank = bank_of(entry_id)
                    if bank is None or distance > int(bank.thresholds.get("pdq", -1)):
                        continue
                    positions, best = stills.get(entry_id, ([], distance))
                    positions.append(position)
                    stills[entry_id] = (positions, min(best, distance))
            for entry_id, (positions, best) in sorted(stills.items()):
                bank = bank_of(entry_id)
                if bank is None or entry_id in found:
                    continue
                found[entry_id] = VideoMatch(
                    kind="image",
                    bank=bank.name,
                    bank_id=bank.id,
                    entry_id=entry_id,
                    action=bank.action,
                    hash_type="pdq",
                    distance=best,
                    threshold=int(bank.thresholds["pdq"]),
                    query_match_pct=round(100.0 * len(positions) / len(usable), 2),
                    entry_match_pct=None,
                    frames_matched=len(positions),
                    query_segments=segments(times[positions].tolist(), gap),
                    entry_segments=(),
                )
        ordered = sorted(found.values(), key=lambda m: (-m.query_match_pct, m.distance, m.entry_id))
        allow = next((m for m in ordered if m.action == "allow"), None)
        if allow is None:
            return ordered
        return [replace(m, suppressed_by=allow.bank) if m.action != "allow" else m for m in ordered]

    def _radius(self, banks: dict[int, BankRow], hash_type: str, *, rotations_only: bool) -> int | None:
        radii = [
            int(b.thresholds.get(hash_type, 0))
            for b in banks.values()
            if b.enabled and (b.match_rotations or not rotations_only) and hash_type in b.thresholds
        ]
        return max(radii) if radii else None

    def _variant(self, entry_id: int, kind: str, value: str, distance: int) -> str:
        stored = self._variants.get(entry_id)
        if not stored:
            return PLAIN
        query = int(value, 16)
        best = min(
            ((((query ^ code).bit_count()), name) for k, name, code in stored if k == kind),
            default=(distance, PLAIN),
        )
        return best[1]

    # --- status -----------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def holds(self, kind: str) -> bool:
        """Whether a query of this perceptual kind can match anything: the index holds codes of it, or
        is not loaded yet (then the answer must not save a caller the work of computing the hash)."""
        if self._state != "ready":
            return True
        index = self._indexes.get(kind)
        return index is None or len(index) > 0

    def status(self) -> dict[str, Any]:
        """Readiness: state, entries, indexed codes, last refresh and lag, change sequence applied."""
        lag = None if self._last_refresh is None else round(time.monotonic() - self._last_refresh, 3)
        state = self._state
        if (
            state == "ready"
            and lag is not None
            and self._thread is not None
            and lag > max(10.0, 5 * self._interval)
        ):
            state = "stale"
        body: dict[str, Any] = {
            "state": state,
            "required": True,
            "entries": self._entries,
            "codes": {kind: len(index) for kind, index in self._indexes.items()}
            | {kind: sum(len(v) for v in table.values()) for kind, table in self._exact.items()},
            "change_seq": self._seq,
            "loaded_from": self._loaded_from,
            "last_refresh_seconds_ago": lag,
            "lag_seconds": lag,
            "refresh_seconds": self._interval,
            "memory_bytes": sum(index.memory_bytes for index in self._indexes.values())
            + self._bank_of.nbytes,
        }
        if self._last_error:
            body["last_error"] = self._last_error
        return body


def _suppress(matches: Any, groups: Sequence[Hashable] | None) -> list[Match]:
    ordered = sorted(matches, key=lambda m: (m.query, m.distance, m.entry_id))

    def label(m: Match) -> Hashable:
        return None if groups is None else groups[m.query]

    allow: dict[Hashable, Match] = {}
    for m in ordered:
        if m.action == "allow":
            key = label(m)
            if key not in allow or m.distance < allow[key].distance:
                allow[key] = m
    if not allow:
        return ordered
    return [
        replace(m, suppressed_by=allow[label(m)].bank) if m.action != "allow" and label(m) in allow else m
        for m in ordered
    ]


matcher = MatchService()
