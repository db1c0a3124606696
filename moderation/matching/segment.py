"""An immutable multi-index-hashing segment: exact Hamming range search over a fixed set of codes.

The code's first `tables * key_bits` bits are cut into `tables` disjoint keys. Each table is the row
order sorted by that key plus a direct-address offsets array (bucket of key v = order[off[v]:off[v+1]]).
By the (generalised) pigeonhole principle, a code within distance r of the query has, in some table i,
a key within t_i of the query's key whenever sum(t_i + 1) >= r + 1; probing those balls yields a superset
of the answer, which is then verified against the full codes. So recall equals a brute-force scan.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from moderation.matching.codes import IdArray, Words, scan

# A probe costs about this many candidate verifications (numpy work per bucket looked up).
PROBE_COST = 0.25
# Above this many candidates per query, scanning every row is as cheap as probing.
SCAN_FRACTION = 0.3
# Bounds the candidates verified at once in a batch (each costs one gathered code row).
BATCH_CANDIDATES = 1 << 18
MAX_KEY_BITS = 24
MIN_KEY_BITS = 8

Hits = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]


@dataclass(frozen=True)
class Layout:
    """How a segment cuts codes into keys: `tables` keys of `key_bits` bits from bit 0 on."""

    tables: int
    key_bits: int

    def thresholds(self, radius: int) -> list[int]:
        """Per-table key radius t_i with sum(t_i + 1) == radius + 1 (t_i = -1: table not probed)."""
        base, extra = divmod(radius + 1, self.tables)
        return [base - 1 + (1 if i < extra else 0) for i in range(self.tables)]

    def probes(self, radius: int) -> int:
        return sum(ball_size(self.key_bits, t) for t in self.thresholds(radius))

    def expected_candidates(self, radius: int, rows: int) -> float:
        """Candidates per query if keys were uniform (real PDQ hashes cluster, so expect more)."""
        return self.probes(radius) * rows / (1 << self.key_bits)


def ball_size(bits: int, radius: int) -> int:
    return sum(math.comb(bits, k) for k in range(min(radius, bits) + 1)) if radius >= 0 else 0


def choose_layout(bits: int, rows: int, design_radius: int | None = None) -> Layout:
    """Pick key width and table count minimising estimated work per query at `design_radius`.

    Keys about as wide as log2(rows) keep buckets near one entry; more tables mean smaller key radii.
    Default design radius: 31 for 256-bit PDQ, the same fraction (about 12%) for other widths.
    """
    radius = design_radius if design_radius is not None else max(0, bits * 32 // 256 - 1)
    key_bits = max(MIN_KEY_BITS, min(MAX_KEY_BITS - 2, bits, int(math.log2(max(rows, 2))) - 1))
    best: tuple[float, Layout] | None = None
    for tables in range(1, bits // key_bits + 1):
        layout = Layout(tables, key_bits)
        if max(layout.thresholds(radius)) >= key_bits:
            continue
        cost = layout.probes(radius) * PROBE_COST + layout.expected_candidates(radius, rows)
        if best is None or cost < best[0]:
            best = (cost, layout)
    return best[1] if best else Layout(bits // key_bits, key_bits)


@functools.lru_cache(maxsize=256)
def flip_masks(bits: int, radius: int) -> npt.NDArray[np.uint32]:
    """Every XOR mask over `bits` bits with at most `radius` bits set."""
    masks = [0]
    for k in range(1, min(radius, bits) + 1):
        masks.extend(sum(1 << b for b in combo) for combo in itertools.combinations(range(bits), k))
    out = np.array(masks, dtype=np.uint32)
    out.setflags(write=False)
    return out


def table_keys(words: Words, key_bits: int, table: int) -> npt.NDArray[np.uint32]:
    """Key of one table: bits [table*key_bits, (table+1)*key_bits) of the little-endian words."""
    word, shift = divmod(table * key_bits, 64)
    value = words[:, word] >> np.uint64(shift)
    if shift + key_bits > 64:
        value = value | (words[:, word + 1] << np.uint64(64 - shift))
    return (value & np.uint64((1 << key_bits) - 1)).astype(np.uint32)


def extract_keys(words: Words, layout: Layout) -> npt.NDArray[np.uint32]:
    """(n, tables) keys of every table."""
    keys = np.empty((words.shape[0], layout.tables), dtype=np.uint32)
    for i in range(layout.tables):
        keys[:, i] = table_keys(words, layout.key_bits, i)
    return keys


@dataclass(frozen=True)
class _Plan:
    table: npt.NDArray[np.int64]
    mask: npt.NDArray[np.uint32]


@dataclass(eq=False)
class Segment:
    """Immutable rows: `ids` (sorted ascending), `words` (codes in id order), and the key tables.

    Built once (`Segment.build`) or mapped from a snapshot; never modified afterwards, so any number of
    threads may search it while a writer prepares the next one.
    """

    bits: int
    layout: Layout
    ids: IdArray
    words: Words
    orders: npt.NDArray[np.uint32]  # (tables, rows)
    offsets: npt.NDArray[np.uint32]  # (tables, 2**key_bits + 1)
    _plans: dict[int, _Plan | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, bits: int, ids: IdArray, words: Words, layout: Layout | None = None) -> Segment:
        """Sort rows by id and build one table per key. Cost: one stable sort per table."""
        rows = ids.shape[0]
        if rows >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 rows")
        layout = layout or choose_layout(bits, rows)
        by_id = np.argsort(ids, kind="stable")
        ids = np.ascontiguousarray(ids[by_id])
        words = np.ascontiguousarray(words[by_id])
        buckets = 1 << layout.key_bits
        orders = np.empty((layout.tables, rows), dtype=np.uint32)
        offsets = np.zeros((layout.tables, buckets + 1), dtype=np.uint32)
        for i in range(layout.tables):
            keys = table_keys(words, layout.key_bits, i)
            sortable = keys.astype(np.uint16) if layout.key_bits <= 16 else keys
            orders[i] = np.argsort(sortable, kind="stable")
            np.cumsum(np.bincount(keys, minlength=buckets), out=offsets[i, 1:])
        return cls(bits, layout, ids, words, orders, offsets)

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.words.nbytes + self.orders.nbytes + self.offsets.nbytes)

    def rows_of(self, ids: IdArray) -> npt.NDArray[np.int64]:
        """Row positions holding any of `ids` (an id may hold several rows)."""
        lo = np.searchsorted(self.ids, ids, side="left")
        hi = np.searchsorted(self.ids, ids, side="right")
        return _expand(lo.astype(np.int64), (hi - lo).astype(np.int64))

    def search(self, queries: Words, radius: int) -> Hits:
        """(query index, row, distance) for every row within `radius` (inclusive) of each query."""
        if self.rows == 0 or queries.shape[0] == 0 or radius < 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy()
        plan = self._plan(radius)
        if plan is None:
            return scan(self.words, queries, radius)
        per_query = max(1, plan.table.size + int(self.layout.expected_candidates(radius, self.rows)))
        step = max(1, BATCH_CANDIDATES // per_query)
        starts = range(0, queries.shape[0], step)
        parts = [self._probe(queries[s : s + step], radius, plan, s) for s in starts]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]

    def _plan(self, radius: int) -> _Plan | None:
        if radius not in self._plans:
            thresholds = self.layout.thresholds(radius)
            layout = self.layout
            work = layout.probes(radius) * PROBE_COST + layout.expected_candidates(radius, self.rows)
            if max(thresholds) >= self.layout.key_bits or work > SCAN_FRACTION * self.rows:
                self._plans[radius] = None
            else:
                tables, masks = [], []
                for i, t in enumerate(thresholds):
                    m = flip_masks(self.layout.key_bits, t) if t >= 0 else np.zeros(0, np.uint32)
                    tables.append(np.full(m.size, i, dtype=np.int64))
                    masks.append(m)
                self._plans[radius] = _Plan(np.concatenate(tables), np.concatenate(masks))
        return self._plans[radius]

    def _probe(self, queries: Words, radius: int, plan: _Plan, first: int) -> Hits:
        qkeys = extract_keys(queries, self.layout)
        buckets = self.offsets.shape[1]
        probe = (qkeys[:, plan.table] ^ plan.mask).astype(np.int64) + plan.table * buckets
        flat_offsets = self.offsets.reshape(-1)
        starts = flat_offsets[probe].astype(np.int64)
        lengths = flat_offsets[probe + 1].astype(np.int64) - starts
        starts += plan.table * self.rows
        nonempty = lengths > 0
        qidx = np.broadcast_to(np.arange(queries.shape[0])[:, None], probe.shape)[nonempty]
        starts, lengths = starts[nonempty], lengths[nonempty]
        positions = _expand(starts, lengths)
        rows = self.orders.reshape(-1)[positions].astype(np.int64)
        qrows = np.repeat(qidx, lengths)
        d = np.bitwise_count(self.words[rows] ^ queries[qrows]).sum(axis=1, dtype=np.int64)
        keep = d <= radius
        return qrows[keep] + first, rows[keep], d[keep]


def _expand(starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Concatenate the integer ranges [start, start + length)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)
