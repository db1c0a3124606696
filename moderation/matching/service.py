"""The match service: per hash type an in-memory index of every bank entry, refreshed incrementally.

Lifecycle: `matcher.start(engine)` loads the current state from the database (banks, entries), then a
refresher thread applies the bank change log every `MODERATION_MATCH_REFRESH_SECONDS`: only the new
changes, never a rebuild, so an added entry matches and a disabled or deleted one stops matching within
a refresh interval in every running process. `matcher.match(hashes)` answers from memory; `stop()` ends
the thread and drops the state.

Index layout: perceptual hashes live in `HammingIndex`es keyed by the *top-level* entry id, so the robust
variants stored with an image entry (crops, trimmed frame, colour shifts) report their entry once, at its
best distance. Rotation/flip variants sit in a separate PDQ index that is searched only for banks with
`match_rotations`. Exact types (SHA-256, MD5) are dictionaries. Disabled entries and banks stay indexed
and are filtered per query, so disabling, re-enabling and `disabled_until` expiry cost nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.db import make_engine, session_factory
from moderation.exceptions import MatchIndexUnavailable, TooManyHashes
from moderation.hashing.hashers import DIHEDRAL_TRANSPOSES
from moderation.hashing.robust import PLAIN
from moderation.hashing.types import HASH_TYPES, parse_hash
from moderation.kit.time import utc_now
from moderation.matching.index import HammingIndex
from moderation.matching.repository import BankRow, ChangeRow, EntryRow, match_repository

log = logging.getLogger("moderation.matching")

MAX_HASHES_PER_QUERY = 256
PDQ_ROTATED = "pdq_rotated"
LOAD_PAGE = 100_000
_ROTATION_VARIANTS = frozenset(DIHEDRAL_TRANSPOSES)


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
    return HASH_TYPES["pdq" if kind == PDQ_ROTATED else kind].bits


def _rows_of(values: Sequence[str], nbytes: int) -> np.ndarray:
    raw = bytes.fromhex("".join(values))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), nbytes)


class _Pending:
    """Rows to add, grouped by index kind (ids as top-level entry ids)."""

    def __init__(self) -> None:
        self.ids: dict[str, list[int]] = {}
        self.values: dict[str, list[str]] = {}
        self.last_top: tuple[int, str, str] = (0, "", "")

    def add(self, kind: str, top: int, value: str) -> None:
        self.ids.setdefault(kind, []).append(top)
        self.values.setdefault(kind, []).append(value)


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
        self._entries = 0
        self._seq = 0
        self._last_refresh: float | None = None
        self._last_error: str | None = None
        self._interval = 2.0
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self, engine: Engine, *, refresh_seconds: float = 2.0, background: bool = True) -> None:
        """Load the current state from the database and (with `background`) start the refresher.
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
        self._state = "loading"
        self._load()
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
        self._indexes = {
            kind: HammingIndex(_index_bits(kind)) for kind in ("pdq", PDQ_ROTATED, "phash", "dhash")
        }
        self._exact = {name: {} for name, t in HASH_TYPES.items() if not t.perceptual}
        self._bank_of = np.zeros(1024, dtype=np.int32)
        self._disabled = {}
        self._variants = {}
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

    def _load(self) -> None:
        self._reset()
        with self._refresh_lock, self._session() as session:
            # Changes are read from this sequence number on; entries the load already saw are skipped
            # when their change is applied, so nothing is lost or doubled between the two reads.
            self._seq = match_repository.last_change_seq(session)
            self._banks = {b.id: b for b in match_repository.banks(session)}
            pending = _Pending()
            after = 0
            while True:
                rows = match_repository.entries_page(session, after, LOAD_PAGE)
                if not rows:
                    break
                self._stage(rows, pending)
                after = rows[-1].id
            for kind, ids in pending.ids.items():
                nbytes = _index_bits(kind) // 8
                if kind in self._indexes:
                    codes = _rows_of(pending.values[kind], nbytes)
                    self._indexes[kind] = HammingIndex.build(
                        _index_bits(kind), np.asarray(ids, np.int64), codes
                    )
        self._last_refresh = time.monotonic()
        self._apply_pending_changes()

    # --- refresh ----------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply the changes committed since the last refresh; returns how many were applied."""
        applied = self._apply_pending_changes()
        self._last_error = None
        return applied

    def _apply_pending_changes(self) -> int:
        applied = 0
        with self._refresh_lock, self._session() as session:
            while True:
                changes = match_repository.changes_after(session, self._seq)
                if not changes:
                    break
                for change in changes:
                    self._apply(session, change)
                    self._seq = change.seq
                    applied += 1
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
        # Ids in the range that the start-up load already indexed.
        known = self._bank_of[first : last + 1] != 0
        pending = _Pending()
        after = first - 1
        while True:
            rows = match_repository.entries_in_range(session, bank_id, first, last, after, LOAD_PAGE)
            if not rows:
                break
            fresh = [r for r in rows if not known[(r.parent_id or r.id) - first]] if known.any() else rows
            self._stage(fresh, pending)
            after = rows[-1].id
        for kind, ids in pending.ids.items():
            if kind in self._indexes:
                codes = _rows_of(pending.values[kind], _index_bits(kind) // 8)
                self._indexes[kind].add(np.asarray(ids, np.int64), codes)

    def _stage(self, rows: Sequence[EntryRow], pending: _Pending) -> None:
        """Record bank, disabled state and variants of `rows`; queue their hashes for the indexes."""
        if rows:
            self._grow(rows[-1].id)
        for row in rows:
            top = row.parent_id or row.id
            kind = _index_kind(row.hash_type, row.variant)
            if row.parent_id is None:
                self._bank_of[row.id] = row.bank_id
                self._entries += 1
                if row.disabled_until is not None:
                    self._disabled[row.id] = row.disabled_until
                pending.last_top = (row.id, kind, row.value)
            elif HASH_TYPES[row.hash_type].perceptual:
                stored = self._variants.get(top)
                if stored is None:
                    # Variant rows directly follow their entry's own row (ids allocated together).
                    stored = self._variants[top] = []
                    if pending.last_top[0] == top and pending.last_top[1] in self._indexes:
                        stored.append((pending.last_top[1], PLAIN, int(pending.last_top[2], 16)))
                stored.append((kind, row.variant, int(row.value, 16)))
            if kind in self._exact:
                self._exact[kind].setdefault(row.value, []).append(top)
            else:
                pending.add(kind, top, row.value)

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

        def consider(query: int, kind: str, entry_id: int, distance: int) -> None:
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
                variant=self._variant(entry_id, kind, value, distance),
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
        for type_name, positions in by_kind.items():
            kinds = [type_name] + ([PDQ_ROTATED] if type_name == "pdq" else [])
            for kind in kinds:
                radius = self._radius(banks, type_name, rotations_only=kind == PDQ_ROTATED)
                if radius is None:
                    continue
                codes = _rows_of([parsed[p][1] for p in positions], _index_bits(kind) // 8)
                for position, hits in zip(positions, self._indexes[kind].search(codes, radius), strict=True):
                    for hit in hits:
                        consider(position, kind, int(hit.id), int(hit.distance))
        return _suppress(found.values(), groups)

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
