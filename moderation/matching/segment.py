"""An immutable multi-index-hashing segment: exact Hamming range search over a fixed set of codes.

The code's first `tables * (key_bits + filter_bits)` bits are cut into `tables` disjoint keys. Each table
lists the rows sorted by the key's first `key_bits` bits (the bucket), with direct-address offsets per
bucket, and keeps the key's last `filter_bits` bits beside each row. By the (generalised) pigeonhole
principle, a code within distance r of the query has, in some table i, a key within t_i of the query's key
whenever sum(t_i + 1) >= r + 1. The search probes every bucket within t_i of the query's bucket, drops the
entries whose bucket distance plus filter distance exceeds t_i (without touching their codes), and verifies
the rest against the full codes. So recall equals a brute-force scan.

Memory is what limits the number of tables, so every array is as narrow as its values allow: row numbers
take 2, 3 or 4 bytes (by segment size), filters 4 bits, bucket offsets one byte each relative to a 32-bit
base per block of buckets, and ids (sorted) one or two bytes relative to a base per block of rows when
they are dense.
"""

from __future__ import annotations

import functools
import itertools
import math
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.matching.codes import IdArray, Words, scan

_kernel: types.ModuleType | None
try:  # built by setup.py where a C compiler is present; the numpy path returns identical results
    from moderation.matching import _probe as _kernel
except ImportError:  # pragma: no cover - depends on the install
    _kernel = None

# Estimated work per query, in units of one verified candidate (a gathered code row).
PROBE_COST = 0.5
FILTER_COST = 0.2
# Above this much work per query, scanning every row is as cheap as probing.
SCAN_FRACTION = 0.3
# Bounds the entries expanded at once in a batch of queries.
BATCH_CANDIDATES = 1 << 18
MAX_KEY_BITS = 24
MIN_KEY_BITS = 8
MAX_FILTER_BITS = 4  # filters are stored two per byte
# Layouts are chosen to keep the whole segment under this many bytes per code when they can. Measured at
# 10M PDQ (benchmarks/RESULTS.md, 2026-11-30): 64 allows 8 tables (62.9-63.7 bytes); with the compiled
# kernel a query there takes 0.9-1.1 ms of CPU (p99 1.6 ms uniform, 3.6 ms clustered), so 64 is the
# default. The numpy path needs 5.8-6.0 ms there, so without the kernel the default stays at 72 (10-11
# tables, about 71 bytes, 1.8-2.0 ms).
MEMORY_BUDGET_PER_CODE = 64.0 if _kernel is not None else 72.0
# Larger segments would need 4-byte row numbers, which leaves room for too few tables.
MAX_SEGMENT_ROWS = 1 << 24
OFFSET_BLOCK_SHIFT = 5
# A block base with this bit set points into `wide`, which holds that block's offsets in full: a crowded
# block (clustered codes: more than 255 entries in 32 buckets) then costs 128 bytes instead of doubling
# the width of every relative offset in the segment.
WIDE_BLOCK = 1 << 31
ID_BLOCK_SHIFT = 8

Hits = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Layout:
    """`tables` keys of `key_bits + filter_bits` bits each, cut from bit 0 on."""

    tables: int
    key_bits: int
    filter_bits: int = 0

    @property
    def width(self) -> int:
        return self.key_bits + self.filter_bits

    def thresholds(self, radius: int) -> list[int]:
        """Per-table key radius t_i with sum(t_i + 1) == radius + 1 (t_i = -1: table not probed)."""
        base, extra = divmod(radius + 1, self.tables)
        return [base - 1 + (1 if i < extra else 0) for i in range(self.tables)]

    def probes(self, radius: int) -> int:
        return sum(ball_size(self.key_bits, t) for t in self.thresholds(radius))

    def expected_candidates(self, radius: int, rows: int) -> float:
        """Codes verified per query if keys were uniform (real PDQ hashes cluster, so expect more)."""
        return sum(ball_size(self.width, t) for t in self.thresholds(radius)) * rows / (1 << self.width)

    def expected_work(self, radius: int, rows: int) -> float:
        work = self.probes(radius) * PROBE_COST + self.expected_candidates(radius, rows)
        if self.filter_bits:
            work += self.probes(radius) * rows / (1 << self.key_bits) * FILTER_COST
        return work

    def bytes_per_row(self, rows: int) -> float:
        """Bytes the tables take per row (row numbers, filters, bucket offsets)."""
        rows = max(rows, 1)
        buckets = 1 << self.key_bits
        offsets = buckets * 1 + (buckets >> min(OFFSET_BLOCK_SHIFT, self.key_bits)) * 4
        filters = 0.5 if self.filter_bits else 0.0
        return self.tables * (row_bytes(rows) + filters + offsets / rows)


def ball_size(bits: int, radius: int) -> int:
    return sum(math.comb(bits, k) for k in range(min(radius, bits) + 1)) if radius >= 0 else 0


def row_bytes(rows: int) -> int:
    return 2 if rows <= 1 << 16 else 3 if rows <= 1 << 24 else 4


def choose_layout(
    bits: int, rows: int, design_radius: int | None = None, memory_budget: float | None = None
) -> Layout:
    """The layout with the least estimated work per query at `design_radius` within the memory budget.

    Buckets of a few rows each (key bits a little under log2(rows)) keep offsets small; the 4 filter bits
    per entry then discard most bucket entries before their codes are read. Default design radius: 31 for
    256-bit PDQ, the same fraction (about 12%) for other widths. If no layout fits the budget, the
    fastest one is taken anyway.
    """
    radius = design_radius if design_radius is not None else max(0, bits * 32 // 256 - 1)
    budget = (memory_budget or MEMORY_BUDGET_PER_CODE) - bits / 8 - 1.1  # codes and (dense) ids
    centre = round(math.log2(max(rows, 2)))
    options: list[tuple[bool, float, Layout]] = []
    for key_bits in range(centre - 4, centre + 1):
        key_bits = max(MIN_KEY_BITS, min(MAX_KEY_BITS, bits, key_bits))
        for filter_bits in (0, 4):
            for tables in range(1, bits // (key_bits + filter_bits) + 1):
                layout = Layout(tables, key_bits, filter_bits)
                if max(layout.thresholds(radius)) >= key_bits:
                    continue
                over = layout.bytes_per_row(rows) > budget
                options.append((over, layout.expected_work(radius, rows), layout))
    if not options:
        return Layout(max(1, bits // MIN_KEY_BITS), MIN_KEY_BITS)
    if rows > MAX_SEGMENT_ROWS:  # 4-byte row numbers: the budget cannot hold enough tables
        return min(options, key=lambda option: option[1])[2]
    return min(options, key=lambda option: (option[0], option[1]))[2]


def check_layout(bits: int, layout: Layout) -> None:
    if not (
        layout.tables >= 1
        and 1 <= layout.key_bits <= MAX_KEY_BITS
        and 0 <= layout.filter_bits <= MAX_FILTER_BITS
        and layout.tables * layout.width <= bits
    ):
        raise ValueError(f"{layout} does not fit {bits}-bit codes")


@functools.lru_cache(maxsize=256)
def flip_masks(bits: int, radius: int) -> npt.NDArray[np.uint32]:
    """Every XOR mask over `bits` bits with at most `radius` bits set, by increasing weight."""
    masks = [0]
    for k in range(1, min(radius, bits) + 1):
        masks.extend(sum(1 << b for b in combo) for combo in itertools.combinations(range(bits), k))
    out = np.array(masks, dtype=np.uint32)
    out.setflags(write=False)
    return out


def bit_field(words: Words, start: int, nbits: int) -> npt.NDArray[np.uint32]:
    """Bits [start, start + nbits) of the little-endian words of every row (nbits <= 32)."""
    word, shift = divmod(start, 64)
    value = words[:, word] >> np.uint64(shift)
    if shift + nbits > 64:
        value = value | (words[:, word + 1] << np.uint64(64 - shift))
    return (value & np.uint64((1 << nbits) - 1)).astype(np.uint32)


def table_keys(
    words: Words, layout: Layout, table: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """(bucket, filter) of every row in one table."""
    start = table * layout.width
    bucket = bit_field(words, start, layout.key_bits)
    if not layout.filter_bits:
        return bucket, np.zeros(bucket.shape, np.uint32)
    return bucket, bit_field(words, start + layout.key_bits, layout.filter_bits)


def _narrowest(max_value: int) -> np.dtype[Any]:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


@dataclass(frozen=True)
class _Plan:
    """Every bucket probe of one radius: its table, XOR mask and index bases into the flat arrays."""

    table: npt.NDArray[np.int64]
    mask: npt.NDArray[np.int64]
    allowance: npt.NDArray[np.int64]  # filter distance still allowed after the mask's bucket distance
    rel_base: npt.NDArray[np.int64]
    block_base: npt.NDArray[np.int64]
    position_base: npt.NDArray[np.int64]


@functools.lru_cache(maxsize=8)
def accept_masks(filter_bits: int) -> npt.NDArray[np.int64]:
    """[allowance, query filter] -> bit set of the filter values within `allowance` of the query's."""
    values = np.arange(1 << filter_bits)
    table = np.zeros((filter_bits + 1, 1 << filter_bits), np.int64)
    for allowance in range(filter_bits + 1):
        for query in range(1 << filter_bits):
            near = values[np.bitwise_count(values ^ query) <= allowance]
            table[allowance, query] = int(np.sum(np.left_shift(1, near)))
    table.setflags(write=False)
    return table


# The arrays a segment consists of, in snapshot order.
ARRAYS = ("id_base", "id_delta", "words", "table_rows", "filters", "bases", "rels", "wide")


@dataclass(eq=False)
class Segment:
    """Immutable rows sorted by id: their codes (`words`), their ids and the key tables.

    Built once (`Segment.build`) or mapped from a snapshot; never modified afterwards, so any number of
    threads may search it while a writer prepares the next one.

    Arrays: ids are `id_base[row >> 8] + id_delta[row]`; table i lists rows (`row_bytes` little-endian
    bytes each, in `table_rows`) sorted by bucket, bucket v of table i spanning positions
    `bases[i, v >> 5] + rels[i, v]` up to the same for v + 1, except in crowded blocks, whose base has the
    `WIDE_BLOCK` bit set and the rest of it pointing at the block's 32 offsets in `wide`; `filters` holds
    each position's filter bits (two per byte when they fit in 4 bits).
    """

    bits: int
    layout: Layout
    id_base: IdArray
    id_delta: npt.NDArray[Any]
    words: Words
    table_rows: U8
    filters: U8
    bases: npt.NDArray[np.uint32]
    rels: npt.NDArray[Any]
    wide: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, np.uint32))
    _plans: dict[int, _Plan | None] = field(default_factory=dict, repr=False)
    _rows_view: npt.NDArray[Any] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, bits: int, ids: IdArray, words: Words, layout: Layout | None = None) -> Segment:
        """Sort rows by id and build one table per key. Cost: one sort per table."""
        rows = ids.shape[0]
        if rows >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 rows")
        layout = layout or choose_layout(bits, rows)
        check_layout(bits, layout)
        by_id = np.argsort(ids, kind="stable")
        ids = ids[by_id]
        words = np.ascontiguousarray(words[by_id])
        id_base, id_delta = _pack_ids(ids)
        buckets = 1 << layout.key_bits
        shift = min(OFFSET_BLOCK_SHIFT, layout.key_bits)
        width = row_bytes(rows)
        table_rows = np.zeros(layout.tables * rows * width + (width == 3), dtype=np.uint8)
        positions = np.zeros((layout.tables, rows), dtype=np.uint8) if layout.filter_bits else None
        offsets = np.zeros((layout.tables, buckets + 1), dtype=np.int64)
        for i in range(layout.tables):
            bucket, filter_ = table_keys(words, layout, i)
            sortable = bucket.astype(np.uint16) if layout.key_bits <= 16 else bucket
            order = np.argsort(sortable, kind="stable").astype("<u4")
            np.cumsum(np.bincount(bucket, minlength=buckets), out=offsets[i, 1:])
            chunk = table_rows[i * rows * width : (i + 1) * rows * width].reshape(rows, width)
            chunk[:] = order.view(np.uint8).reshape(rows, 4)[:, :width]
            if positions is not None:
                positions[i] = filter_[order]
        bases, rels, wide = _pack_offsets(offsets, shift, rows)
        filters = _pack_filters(positions)
        return cls(bits, layout, id_base, id_delta, words, table_rows, filters, bases, rels, wide)

    @property
    def rows(self) -> int:
        return int(self.words.shape[0])

    @property
    def row_bytes(self) -> int:
        return row_bytes(self.rows)

    @property
    def nbytes(self) -> int:
        return int(sum(getattr(self, name).nbytes for name in ARRAYS))

    def ids_at(self, rows: npt.NDArray[np.int64]) -> IdArray:
        """The id of each row."""
        return self.id_base[rows >> ID_BLOCK_SHIFT] + self.id_delta[rows].astype(np.int64)

    def all_ids(self) -> IdArray:
        """Every row's id, ascending (decodes the whole column: for merges and snapshots)."""
        return self.ids_at(np.arange(self.rows, dtype=np.int64))

    def rows_of(self, ids: IdArray) -> npt.NDArray[np.int64]:
        """Row positions holding any of `ids` (an id may hold several rows)."""
        lo, hi = self._bound(ids, right=False), self._bound(ids, right=True)
        return _expand(lo, hi - lo)

    def contains(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        """Whether each of `ids` has a row here."""
        return np.asarray(self._bound(ids, right=True) > self._bound(ids, right=False))

    def _bound(self, ids: IdArray, *, right: bool) -> npt.NDArray[np.int64]:
        """First row whose id is >= each id (> with `right`): the block, then a count inside it."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.rows == 0:
            return np.zeros(ids.shape, np.int64)
        block = np.maximum(np.searchsorted(self.id_base, ids, side="right" if right else "left") - 1, 0)
        size = 1 << ID_BLOCK_SHIFT
        rows = (block << ID_BLOCK_SHIFT)[:, None] + np.arange(size)
        inside = rows < self.rows
        values = self.ids_at(np.minimum(rows, self.rows - 1))
        before = values <= ids[:, None] if right else values < ids[:, None]
        return (block << ID_BLOCK_SHIFT) + (before & inside).sum(axis=1)

    def search(self, queries: Words, radius: int) -> Hits:
        """(query index, row, distance) for every row within `radius` (inclusive) of each query."""
        if self.rows == 0 or queries.shape[0] == 0 or radius < 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy()
        plan = self._plan(radius)
        if plan is None:
            return scan(self.words, queries, radius)
        if _kernel is not None and self.rels.itemsize <= 4 and self.rows < WIDE_BLOCK:
            return self._probe_compiled(np.ascontiguousarray(queries), plan, radius)
        per_query = max(1, int(self.layout.probes(radius) * (1 + self.rows / (1 << self.layout.key_bits))))
        step = max(1, BATCH_CANDIDATES // per_query)
        starts = range(0, queries.shape[0], step)
        parts = [self._probe(queries[s : s + step], plan, radius, s) for s in starts]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]

    def _plan(self, radius: int) -> _Plan | None:
        if radius not in self._plans:
            layout = self.layout
            thresholds = layout.thresholds(radius)
            if max(thresholds) >= layout.key_bits or layout.expected_work(radius, self.rows) > (
                SCAN_FRACTION * self.rows
            ):
                self._plans[radius] = None
            else:
                tables, masks, allowances = [], [], []
                for i, t in enumerate(thresholds):
                    m = flip_masks(layout.key_bits, t) if t >= 0 else np.zeros(0, np.uint32)
                    tables.append(np.full(m.size, i, dtype=np.int64))
                    masks.append(m.astype(np.int64))
                    allowances.append(t - np.bitwise_count(m).astype(np.int64))
                # Probes in bucket order within each table: neighbouring probes then share cache lines
                # and pages of the offsets and table entries (about 40% less time per query at 10M).
                order = np.lexsort((np.concatenate(masks), np.concatenate(tables)))
                table = np.concatenate(tables)[order]
                self._plans[radius] = _Plan(
                    table,
                    np.concatenate(masks)[order],
                    np.minimum(np.concatenate(allowances)[order], layout.filter_bits),
                    table * self.rels.shape[1],
                    table * self.bases.shape[1],
                    table * self.rows,
                )
        return self._plans[radius]

    def _rows(self) -> npt.NDArray[Any]:
        """The table positions as unsigned integers (3-byte rows read as unaligned 4-byte words)."""
        if self._rows_view is None:
            width, count = self.row_bytes, self.layout.tables * self.rows
            if width == 3:
                view = np.ndarray((count,), dtype="<u4", buffer=self.table_rows, strides=(3,))
            else:
                view = self.table_rows[: count * width].view("<u2" if width == 2 else "<u4")
            self._rows_view = view
        return self._rows_view

    def _probe_compiled(self, queries: Words, plan: _Plan, radius: int) -> Hits:
        """`_probe` in C (`_probe.c`): same hits in the same order, one pass per query, no temporaries."""
        assert _kernel is not None
        layout = self.layout
        capacity = 256 * queries.shape[0]
        while True:
            out = np.empty((3, capacity), dtype=np.int64)
            found = _kernel.probe(
                self.words,
                self.words.shape[1],
                queries,
                radius,
                self.table_rows,
                self.row_bytes,
                self.filters,
                layout.filter_bits,
                self.bases,
                self.bases.shape[1],
                self.rels,
                self.rels.itemsize,
                self.rels.shape[1],
                min(OFFSET_BLOCK_SHIFT, layout.key_bits),
                layout.key_bits,
                layout.tables,
                self.rows,
                plan.table,
                plan.mask,
                plan.allowance,
                accept_masks(layout.filter_bits),
                self.wide,
                out[0],
                out[1],
                out[2],
                0,
            )
            if found <= capacity:
                return out[0, :found], out[1, :found], out[2, :found]
            capacity = found

    def _probe(self, queries: Words, plan: _Plan, radius: int, first: int) -> Hits:
        """The numpy path: every stage one vectorised pass over the whole batch."""
        layout = self.layout
        shift = min(OFFSET_BLOCK_SHIFT, layout.key_bits)
        qkeys = [table_keys(queries, layout, i) for i in range(layout.tables)]
        qbucket = np.stack([bucket for bucket, _ in qkeys], axis=1).astype(np.int64)
        probe = qbucket[:, plan.table] ^ plan.mask
        rel_at = probe + plan.rel_base
        starts = self._offsets(plan.block_base + (probe >> shift), rel_at, probe & ((1 << shift) - 1))
        ends = self._offsets(
            plan.block_base + ((probe + 1) >> shift), rel_at + 1, (probe + 1) & ((1 << shift) - 1)
        )
        lengths = ends - starts
        nonempty = np.flatnonzero(lengths)  # over the flattened (query, probe) grid
        probes = plan.table.size
        lengths = lengths.reshape(-1)[nonempty]
        which = nonempty % probes
        starts = starts.reshape(-1)[nonempty] + plan.position_base[which]
        positions = _expand(starts, lengths)
        owner = np.repeat(np.arange(nonempty.size), lengths)  # the probe each position came from
        if layout.filter_bits:
            qfilter = np.stack([filter_ for _, filter_ in qkeys], axis=1).astype(np.int64)
            query_of = nonempty // probes
            accept = accept_masks(layout.filter_bits)[
                plan.allowance[which], qfilter[query_of, plan.table[which]]
            ]
            near = (accept[owner] >> self._filter_at(positions)) & 1 == 1
            positions, owner = positions[near], owner[near]
        found = self._rows()[positions]
        if self.row_bytes == 3:
            found = found & np.uint32(0xFFFFFF)
        found = found.astype(np.int64)
        if queries.shape[0] == 1:
            qrows = np.zeros(found.size, np.int64)
            d = np.bitwise_count(self.words[found] ^ queries[0]).sum(axis=1, dtype=np.int64)
        else:
            qrows = (nonempty // probes)[owner]
            d = np.bitwise_count(self.words[found] ^ queries[qrows]).sum(axis=1, dtype=np.int64)
        keep = d <= radius
        return qrows[keep] + first, found[keep], d[keep]

    def _offsets(
        self, blocks: npt.NDArray[np.int64], rels: npt.NDArray[np.int64], within: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Table positions where buckets start, from their block base and relative offset (or `wide`)."""
        base = self.bases.reshape(-1)[blocks].astype(np.int64)
        out = base + self.rels.reshape(-1)[rels]
        crowded = base >= WIDE_BLOCK
        if self.wide.size and crowded.any():
            out[crowded] = self.wide[base[crowded] - WIDE_BLOCK + within[crowded]]
        return out

    def _filter_at(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        packed = self.filters[positions >> 1].astype(np.int64)
        return (packed >> ((positions & 1) << 2)) & 0x0F


def _pack_ids(ids: IdArray) -> tuple[IdArray, npt.NDArray[Any]]:
    """Sorted ids as a base per block of rows plus the narrowest per-row delta that holds them."""
    if ids.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
    base = np.ascontiguousarray(ids[:: 1 << ID_BLOCK_SHIFT])
    delta = ids - np.repeat(base, 1 << ID_BLOCK_SHIFT)[: ids.size]
    return base, delta.astype(_narrowest(int(delta.max())))


def _pack_offsets(
    offsets: npt.NDArray[np.int64], shift: int, rows: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[Any], npt.NDArray[np.uint32]]:
    """(bases, rels, wide): each bucket's start as a 32-bit base per block plus a narrow relative offset;
    blocks whose offsets do not fit in one byte are kept whole in `wide` (their base flagged WIDE_BLOCK)."""
    tables, count = offsets.shape
    block = 1 << shift
    bases = np.ascontiguousarray(offsets[:, ::block])
    rels = offsets - np.repeat(bases, block, axis=1)[:, :count]
    if rels.max(initial=0) <= 0xFF or rows >= WIDE_BLOCK:
        narrow = rels.astype(_narrowest(int(rels.max(initial=0))))
        return bases.astype(np.uint32), narrow, np.zeros(0, np.uint32)
    blocks = bases.shape[1]
    padded = np.zeros((tables, blocks * block), np.int64)
    padded[:, :count] = rels
    crowded = padded.reshape(tables, blocks, block).max(axis=2) > 0xFF
    full = np.zeros((tables, blocks * block), np.int64)
    full[:, :count] = offsets
    wide = full.reshape(tables, blocks, block)[crowded].reshape(-1).astype(np.uint32)
    bases[crowded] = WIDE_BLOCK + np.arange(int(crowded.sum()), dtype=np.int64) * block
    padded.reshape(tables, blocks, block)[crowded] = 0
    return bases.astype(np.uint32), padded[:, :count].astype(np.uint8), wide


def _pack_filters(values: npt.NDArray[np.uint8] | None) -> U8:
    if values is None:
        return np.zeros(0, np.uint8)
    flat = values.reshape(-1)
    padded = np.zeros(flat.size + (flat.size & 1), np.uint8)
    padded[: flat.size] = flat
    return np.ascontiguousarray(padded[0::2] | (padded[1::2] << 4))


def _expand(starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Concatenate the integer ranges [start, start + length)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)
