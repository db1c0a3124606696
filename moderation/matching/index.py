"""The match index: exact Hamming range search over perceptual hashes, updated incrementally."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from moderation.matching import snapshot
from moderation.matching.codes import IdArray, Words, pack_codes, pack_ids, scan, word_count
from moderation.matching.errors import InvalidHashCodes
from moderation.matching.segment import MAX_SEGMENT_ROWS, Layout, Segment, choose_layout

# Recent additions are scanned linearly until there are this many; then they become a segment.
DEFAULT_DELTA_LIMIT = 16_384

Codes = npt.ArrayLike | Sequence[bytes]


class Match(NamedTuple):
    id: int
    distance: int


@dataclass(frozen=True)
class _Part:
    segment: Segment
    dead: IdArray  # sorted ids whose rows in this segment no longer match
    live_rows: int


@dataclass(frozen=True)
class _State:
    parts: tuple[_Part, ...]
    delta_ids: IdArray
    delta_words: Words

    @property
    def count(self) -> int:
        return sum(part.live_rows for part in self.parts) + int(self.delta_ids.shape[0])


class HammingIndex:
    """Every (id, code) within a Hamming radius of a query, never missing one (recall = brute force).

    Lifecycle: start from `HammingIndex(bits)` (empty), `HammingIndex.build(bits, ids, codes)` (bulk load,
    e.g. from the database at start-up) or `HammingIndex.load(path)` (a memory-mapped snapshot: no load
    time, one copy per machine through the page cache). One writer thread then applies changes with
    `add` and `remove` while any number of threads call `search`; each call sees the state before or after
    a change, never half of one. `save(path)` writes the live rows as a new snapshot; `compact()` folds
    recent changes into one segment in memory.

    Internally: immutable multi-index-hashing segments (the snapshot and frozen batches of additions),
    a small linearly scanned delta of recent additions, and per-segment tombstones for removed ids.
    An id may hold several codes (for instance crops of one image): `search` reports it once, at its
    smallest distance; `remove` drops all of them.
    """

    def __init__(
        self, bits: int, *, delta_limit: int = DEFAULT_DELTA_LIMIT, memory_budget: float | None = None
    ) -> None:
        pack_codes(np.zeros((0, bits // 8 if bits > 0 else 1), np.uint8), bits)  # validates bits
        self.bits = bits
        self.delta_limit = delta_limit
        # Bytes per code the segments' layouts may take (None: the default budget); more buys speed.
        self.memory_budget = memory_budget
        self._lock = threading.Lock()
        self._state = _State((), np.zeros(0, np.int64), np.zeros((0, word_count(bits)), np.uint64))

    @classmethod
    def build(
        cls,
        bits: int,
        ids: npt.ArrayLike,
        codes: Codes,
        *,
        layout: Layout | None = None,
        **options: Any,
    ) -> HammingIndex:
        """Bulk-build an index holding exactly these rows (faster than `add` for millions)."""
        index = cls(bits, **options)
        words = pack_codes(codes, bits)
        parts = _segments(bits, pack_ids(ids, words.shape[0]), words, layout, index.memory_budget)
        index._state = _State(parts, index._state.delta_ids, index._state.delta_words)
        return index

    @classmethod
    def load(cls, path: Path, *, use_mmap: bool = True, **options: Any) -> HammingIndex:
        """Open a snapshot written by `save`; with `use_mmap` nothing is read until searched."""
        segment = snapshot.read(Path(path), use_mmap=use_mmap)
        index = cls(segment.bits, **options)
        index._state = _State(
            (_Part(segment, np.zeros(0, np.int64), segment.rows),),
            index._state.delta_ids,
            index._state.delta_words,
        )
        return index

    def __len__(self) -> int:
        """Number of live codes."""
        return self._state.count

    @property
    def memory_bytes(self) -> int:
        """Bytes of every array the index holds (memory-mapped ones included)."""
        state = self._state
        total = state.delta_ids.nbytes + state.delta_words.nbytes
        return int(total + sum(part.segment.nbytes + part.dead.nbytes for part in state.parts))

    @property
    def segments(self) -> int:
        return len(self._state.parts)

    def add(self, ids: npt.ArrayLike, codes: Codes) -> None:
        """Make these codes matchable now. Adding to an id that already has codes adds more codes."""
        words = pack_codes(codes, self.bits)
        new_ids = pack_ids(ids, words.shape[0])
        if new_ids.size == 0:
            return
        with self._lock:
            state = self._state
            delta_ids = np.concatenate([state.delta_ids, new_ids])
            delta_words = np.concatenate([state.delta_words, words])
            parts = state.parts
            if delta_ids.shape[0] >= self.delta_limit:
                fresh = _segments(self.bits, delta_ids, delta_words, None, self.memory_budget)
                parts = _merge_tail((*parts, *fresh), self.memory_budget)
                delta_ids, delta_words = delta_ids[:0], delta_words[:0]
            self._state = _State(parts, delta_ids, delta_words)

    def remove(self, ids: npt.ArrayLike) -> None:
        """Stop matching every code of these ids (unknown ids are ignored); they may be added again."""
        requested = np.atleast_1d(np.asarray(ids))
        gone = np.unique(pack_ids(requested, requested.shape[0]))
        if gone.size == 0:
            return
        with self._lock:
            state = self._state
            parts = []
            for part in state.parts:
                present = gone[part.segment.contains(gone) & ~_contains(part.dead, gone)]
                if present.size:
                    rows = part.segment.rows_of(present).size
                    part = _Part(part.segment, np.union1d(part.dead, present), part.live_rows - rows)
                parts.append(part)
            keep = ~_contains(gone, state.delta_ids)
            self._state = _State(tuple(parts), state.delta_ids[keep], state.delta_words[keep])

    def search(self, query_codes: Codes, radius: int) -> list[list[Match]]:
        """For each query, every live id within `radius` (inclusive), nearest first, ties by id."""
        if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
            raise InvalidHashCodes(f"radius must be a non-negative integer, got {radius!r}")
        queries = pack_codes(query_codes, self.bits)
        state = self._state
        found_q, found_ids, found_d = [], [], []
        for part in state.parts:
            qi, rows, d = part.segment.search(queries, int(radius))
            hit_ids = part.segment.ids_at(rows)
            if part.dead.size:
                keep = ~_contains(part.dead, hit_ids)
                qi, hit_ids, d = qi[keep], hit_ids[keep], d[keep]
            found_q.append(qi)
            found_ids.append(hit_ids)
            found_d.append(d)
        if state.delta_ids.size:
            qi, rows, d = scan(state.delta_words, queries, int(radius))
            found_q.append(qi)
            found_ids.append(state.delta_ids[rows])
            found_d.append(d)
        return _group(queries.shape[0], found_q, found_ids, found_d)

    def search_one(self, query_code: bytes | npt.ArrayLike, radius: int) -> list[Match]:
        """`search` for a single code."""
        code = np.asarray(query_code) if not isinstance(query_code, bytes) else query_code
        if isinstance(code, np.ndarray) and code.ndim == 1:
            code = code[None, :]
        return self.search(code if isinstance(code, np.ndarray) else [code], radius)[0]

    def compact(self) -> None:
        """Fold segments, delta and tombstones into a single segment (a rebuild of the live rows)."""
        with self._lock:
            state = self._state
            ids, words = _live_rows(state.parts, state.delta_ids, state.delta_words)
            self._state = HammingIndex.build(self.bits, ids, words, memory_budget=self.memory_budget)._state

    def save(self, path: Path) -> None:
        """Write the live rows as one snapshot file (atomically replacing `path`)."""
        state = self._state
        if len(state.parts) == 1 and not state.parts[0].dead.size and not state.delta_ids.size:
            segment = state.parts[0].segment
        else:
            ids, words = _live_rows(state.parts, state.delta_ids, state.delta_words)
            segment = Segment.build(self.bits, ids, words, _layout(self.bits, ids.size, self.memory_budget))
        snapshot.write(Path(path), segment)


def _layout(bits: int, rows: int, memory_budget: float | None) -> Layout | None:
    return None if memory_budget is None else choose_layout(bits, rows, memory_budget=memory_budget)


def _segments(
    bits: int,
    ids: IdArray,
    words: Words,
    layout: Layout | None = None,
    memory_budget: float | None = None,
) -> tuple[_Part, ...]:
    """Segments of at most MAX_SEGMENT_ROWS rows each (split by id), so row numbers stay narrow."""
    by_id = np.argsort(ids, kind="stable")
    chunks = np.array_split(by_id, max(1, -(-by_id.size // MAX_SEGMENT_ROWS)))
    return tuple(
        _fresh(
            Segment.build(bits, ids[chunk], words[chunk], layout or _layout(bits, chunk.size, memory_budget))
        )
        for chunk in chunks
    )


def _fresh(segment: Segment) -> _Part:
    return _Part(segment, np.zeros(0, np.int64), segment.rows)


def _contains(sorted_values: IdArray, values: IdArray) -> npt.NDArray[np.bool_]:
    """Membership of each of `values` in the ascending array `sorted_values`."""
    if sorted_values.size == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return np.asarray(sorted_values[at] == values)


def _live_rows(parts: Sequence[_Part], delta_ids: IdArray, delta_words: Words) -> tuple[IdArray, Words]:
    ids, words = [delta_ids], [delta_words]
    for part in parts:
        segment_ids = part.segment.all_ids()
        keep = ~_contains(part.dead, segment_ids) if part.dead.size else slice(None)
        ids.append(segment_ids[keep])
        words.append(part.segment.words[keep])
    return np.concatenate(ids), np.concatenate(words)


def _merge_tail(parts: tuple[_Part, ...], memory_budget: float | None = None) -> tuple[_Part, ...]:
    """Size-tiered merging: while the newest segment is at least half its predecessor, merge the two.

    This keeps the number of segments logarithmic in the rows added, and the total rebuild work per added
    row logarithmic too, instead of rebuilding everything on every batch.
    """
    while (
        len(parts) >= 2
        and parts[-1].live_rows * 2 >= parts[-2].live_rows
        and parts[-1].live_rows + parts[-2].live_rows <= MAX_SEGMENT_ROWS
    ):
        older, newer = parts[-2], parts[-1]
        ids, words = _live_rows((older, newer), older.dead[:0], older.segment.words[:0])
        bits = older.segment.bits
        parts = (*parts[:-2], _fresh(Segment.build(bits, ids, words, _layout(bits, ids.size, memory_budget))))
    return parts


def _group(
    queries: int,
    found_q: list[npt.NDArray[np.int64]],
    found_ids: list[npt.NDArray[np.int64]],
    found_d: list[npt.NDArray[np.int64]],
) -> list[list[Match]]:
    results: list[list[Match]] = [[] for _ in range(queries)]
    if not found_q:
        return results
    qi, ids, d = np.concatenate(found_q), np.concatenate(found_ids), np.concatenate(found_d)
    if qi.size == 0:
        return results
    # One row per (query, id) at its smallest distance, then nearest first.
    order = np.lexsort((d, ids, qi))
    qi, ids, d = qi[order], ids[order], d[order]
    first = np.ones(qi.size, dtype=bool)
    first[1:] = (qi[1:] != qi[:-1]) | (ids[1:] != ids[:-1])
    qi, ids, d = qi[first], ids[first], d[first]
    order = np.lexsort((ids, d, qi))
    for q, i, dist in zip(qi[order].tolist(), ids[order].tolist(), d[order].tolist(), strict=True):
        results[q].append(Match(i, dist))
    return results
