"""The match index returns exactly what a brute-force scan returns, through adds, removes and snapshots."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from moderation.matching.codes import codes_from_hex
from moderation.matching.errors import IndexSnapshotInvalid, InvalidHashCodes
from moderation.matching.index import HammingIndex, Match
from moderation.matching.segment import MEMORY_BUDGET_PER_CODE, Layout, choose_layout
from tests.matching.conftest import as_tuples, brute_force, flip_bits, random_codes

PDQ_RADIUS = 31


def planted_bank(rng: np.random.Generator, n: int = 20_000, sources: int = 3):
    """Random codes plus, for each source, one variant at every distance 0..32 from it."""
    codes = random_codes(rng, n)
    source_rows = rng.choice(n, size=sources, replace=False)
    planted = [flip_bits(rng, codes[row], k) for row in source_rows for k in range(33)]
    all_codes = np.concatenate([codes, np.array(planted)])
    ids = np.arange(all_codes.shape[0], dtype=np.int64) * 7 + 3  # ids unrelated to row positions
    return ids, all_codes, codes[source_rows]


@pytest.mark.parametrize(
    ("layout", "probes"),
    [(None, True), (Layout(11, 22), True), (Layout(16, 16), True), (Layout(5, 9), False)],
)
def test_pdq_recall_equals_brute_force_at_every_distance(rng, layout, probes) -> None:
    ids, codes, sources = planted_bank(rng)
    index = HammingIndex.build(256, ids, codes, layout=layout)
    segment = index._state.parts[0].segment
    # probes: the multi-index path; otherwise the layout is too coarse for r=31 and it scans
    assert (segment._plan(PDQ_RADIUS) is not None) == probes
    got = as_tuples(index.search(sources, PDQ_RADIUS))
    assert got == brute_force(ids, codes, sources, PDQ_RADIUS)
    for row in got:
        # the source itself plus its variants at distances 0..31; the one at 32 is excluded
        assert sorted(d for _, d in row) == sorted([0, *range(32)])


@pytest.mark.parametrize("radius", [0, 1, 7, 16, 31, 40, 64])
def test_random_and_near_queries_match_brute_force(rng, radius) -> None:
    ids, codes, sources = planted_bank(rng, n=5_000, sources=2)
    queries = np.concatenate(
        [random_codes(rng, 5), sources, [flip_bits(rng, codes[i], 20) for i in range(0, 4000, 800)]]
    )
    index = HammingIndex.build(256, ids, codes)
    assert as_tuples(index.search(queries, radius)) == brute_force(ids, codes, queries, radius)


def test_64_bit_hashes(rng) -> None:
    codes = random_codes(rng, 30_000, bits=64)
    planted = np.array([flip_bits(rng, codes[0], k) for k in range(12)])
    codes = np.concatenate([codes, planted])
    ids = np.arange(codes.shape[0])
    index = HammingIndex.build(64, ids, codes)
    queries = np.concatenate([codes[:1], random_codes(rng, 4, bits=64)])
    for radius in (0, 4, 10):
        assert as_tuples(index.search(queries, radius)) == brute_force(ids, codes, queries, radius)
    assert {d for _, d in as_tuples(index.search(codes[:1], 10))[0]} == set(range(11))


def test_batch_equals_single(rng) -> None:
    ids, codes, sources = planted_bank(rng, n=10_000)
    index = HammingIndex.build(256, ids, codes)
    queries = np.concatenate([sources, random_codes(rng, 3), codes[:4]])
    batch = index.search(queries, PDQ_RADIUS)
    assert batch == [index.search_one(q, PDQ_RADIUS) for q in queries]
    assert batch == [index.search_one(q.tobytes(), PDQ_RADIUS) for q in queries]
    assert all(isinstance(m, Match) for row in batch for m in row)


def test_add_remove_readd_against_a_model(rng) -> None:
    """Random adds and removes through delta, frozen segments and merges, checked after each step."""
    index = HammingIndex(256, delta_limit=50)
    model: dict[int, list[np.ndarray]] = {}
    anchors = random_codes(rng, 4)
    for step in range(40):
        batch = rng.integers(1, 60)
        new_ids = rng.integers(0, 400, size=batch)
        near = [flip_bits(rng, anchors[rng.integers(4)], int(rng.integers(0, 40))) for _ in new_ids]
        new_codes = np.array(near)
        index.add(new_ids, new_codes)
        for i, c in zip(new_ids.tolist(), new_codes, strict=True):
            model.setdefault(i, []).append(c)
        gone = rng.choice(400, size=int(rng.integers(0, 30)), replace=False)
        index.remove(gone)
        for i in gone.tolist():
            model.pop(i, None)
        if step % 10 == 9:
            index.compact()
        live_ids = np.array([i for i, cs in model.items() for _ in cs], dtype=np.int64)
        live_codes = np.array([c for cs in model.values() for c in cs]).reshape(-1, 32)
        assert len(index) == live_ids.size
        assert as_tuples(index.search(anchors, PDQ_RADIUS)) == brute_force(live_ids, live_codes, anchors, 31)
        for i in gone.tolist():
            assert all(m.id != i for row in index.search(anchors, 256) for m in row)
    assert index.segments >= 1


def test_removed_id_never_matches_and_readd_uses_the_new_code(rng) -> None:
    ids, codes, sources = planted_bank(rng, n=2_000, sources=1)
    index = HammingIndex.build(256, ids, codes)
    target = ids[-33]  # the variant at distance 0 from the source
    assert Match(int(target), 0) in index.search_one(sources[0], 0)
    index.remove([target])
    assert all(m.id != target for m in index.search_one(sources[0], 256))
    index.remove([target])  # removing twice is harmless
    index.remove([10**12])  # so is an unknown id
    moved = flip_bits(rng, sources[0], 5)
    index.add([target], [moved])
    assert [m for m in index.search_one(sources[0], 31) if m.id == target] == [Match(int(target), 5)]
    assert len(index) == ids.size
    index.compact()
    assert [m for m in index.search_one(sources[0], 31) if m.id == target] == [Match(int(target), 5)]


def test_an_id_with_several_codes_is_reported_once_at_its_nearest(rng) -> None:
    anchor = random_codes(rng, 1)[0]
    index = HammingIndex(256)
    index.add([5, 5, 5], [flip_bits(rng, anchor, 9), flip_bits(rng, anchor, 2), flip_bits(rng, anchor, 40)])
    assert index.search_one(anchor, 31) == [Match(5, 2)]
    index.remove([5])
    assert index.search_one(anchor, 256) == []
    assert len(index) == 0


def test_empty_index(tmp_path, rng) -> None:
    index = HammingIndex(256)
    assert len(index) == 0
    assert index.search(random_codes(rng, 3), 31) == [[], [], []]
    assert index.search(np.zeros((0, 32), np.uint8), 31) == []
    index.save(tmp_path / "empty.idx")
    loaded = HammingIndex.load(tmp_path / "empty.idx")
    assert len(loaded) == 0
    assert loaded.search(random_codes(rng, 1), 31) == [[]]
    built = HammingIndex.build(256, [], np.zeros((0, 32), np.uint8))
    assert built.search(random_codes(rng, 1), 31) == [[]]


@pytest.mark.parametrize("use_mmap", [True, False])
def test_snapshot_round_trip(tmp_path, rng, use_mmap) -> None:
    ids, codes, sources = planted_bank(rng, n=10_000)
    index = HammingIndex.build(256, ids, codes)
    queries = np.concatenate([sources, random_codes(rng, 2)])
    path = tmp_path / "bank.idx"
    index.save(path)
    loaded = HammingIndex.load(path, use_mmap=use_mmap)
    assert len(loaded) == len(index)
    assert loaded.search(queries, PDQ_RADIUS) == index.search(queries, PDQ_RADIUS)
    # changes on a loaded (read-only, mapped) snapshot go to the delta and tombstones
    loaded.remove(ids[-33:-20])
    loaded.add([999_999], [sources[0]])
    expected = loaded.search(queries, PDQ_RADIUS)
    assert Match(999_999, 0) in expected[0]
    loaded.save(path)  # replaces the file that is still mapped
    again = HammingIndex.load(path)
    assert again.search(queries, PDQ_RADIUS) == expected
    assert len(again) == len(loaded)


def test_bad_snapshots_raise_a_stable_code(tmp_path, rng) -> None:
    with pytest.raises(IndexSnapshotInvalid) as missing:
        HammingIndex.load(tmp_path / "missing.idx")
    assert missing.value.code == "index_snapshot_invalid"
    (tmp_path / "junk.idx").write_bytes(b"not a snapshot at all")
    with pytest.raises(IndexSnapshotInvalid):
        HammingIndex.load(tmp_path / "junk.idx")
    (tmp_path / "zero.idx").write_bytes(b"")
    with pytest.raises(IndexSnapshotInvalid):
        HammingIndex.load(tmp_path / "zero.idx")
    path = tmp_path / "cut.idx"
    HammingIndex.build(256, np.arange(1000), random_codes(rng, 1000)).save(path)
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(IndexSnapshotInvalid):
        HammingIndex.load(path)


def test_bad_input_raises_a_stable_code(rng) -> None:
    index = HammingIndex(256)
    bad_calls = [
        lambda: index.add([1], random_codes(rng, 1, bits=64)),
        lambda: index.add([1, 2], random_codes(rng, 1)),
        lambda: index.add([-1], random_codes(rng, 1)),
        lambda: index.add(["x"], random_codes(rng, 1)),
        lambda: index.add([1], [b"short"]),
        lambda: index.add([1], np.zeros((1, 32), np.float32)),
        lambda: index.search(random_codes(rng, 1), -1),
        lambda: index.search(random_codes(rng, 1), 3.5),
        lambda: codes_from_hex(["zz" * 32], 256),
        lambda: codes_from_hex(["ab" * 8], 256),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidHashCodes) as raised:
            call()
        assert raised.value.code == "invalid_hash_codes"
    with pytest.raises(InvalidHashCodes):
        HammingIndex(12)


def test_hex_codes_round_trip(rng) -> None:
    codes = random_codes(rng, 3)
    hexes = [c.tobytes().hex() for c in codes]
    index = HammingIndex(256)
    index.add([1, 2, 3], codes_from_hex(hexes, 256))
    assert index.search(codes_from_hex(hexes, 256), 0) == [[Match(1, 0)], [Match(2, 0)], [Match(3, 0)]]


def test_searches_run_while_a_writer_adds_and_removes(rng) -> None:
    ids, codes, sources = planted_bank(rng, n=5_000, sources=1)
    index = HammingIndex.build(256, ids, codes, delta_limit=200)
    stable = brute_force(ids, codes, sources, PDQ_RADIUS)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                # writer only touches ids >= 10**9, so the planted answer must never change
                got = [m for m in index.search(sources, PDQ_RADIUS)[0] if m.id < 10**9]
                assert [(m.id, m.distance) for m in got] == stable[0]
        except BaseException as error:  # surfaced to the main thread below
            errors.append(error)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    extra = random_codes(rng, 2_000)
    for start in range(0, 2_000, 100):
        index.add(np.arange(start, start + 100) + 10**9, extra[start : start + 100])
        index.remove(np.arange(start, start + 50) + 10**9)
    stop.set()
    for thread in readers:
        thread.join()
    assert not errors, errors
    assert len(index) == ids.size + 1_000


def test_filter_bits_and_three_byte_rows_match_brute_force(rng) -> None:
    """Over 65,536 rows the tables hold 3-byte row numbers; 4 filter bits drop entries before verifying."""
    ids, codes, sources = planted_bank(rng, n=70_000, sources=2)
    queries = np.concatenate([sources, random_codes(rng, 2)])
    for layout in (None, Layout(8, 14, 4), Layout(10, 16, 0)):
        index = HammingIndex.build(256, ids, codes, layout=layout)
        segment = index._state.parts[0].segment
        assert segment.row_bytes == 3
        assert segment._plan(PDQ_RADIUS) is not None
        assert as_tuples(index.search(queries, PDQ_RADIUS)) == brute_force(ids, codes, queries, PDQ_RADIUS)


@pytest.mark.parametrize("budget", [64.0, None])
def test_automatic_layout_stays_within_the_memory_budget(rng, budget) -> None:
    codes = random_codes(rng, 70_000)
    layout = choose_layout(256, 70_000, memory_budget=budget)
    segment = HammingIndex.build(256, np.arange(70_000), codes, layout=layout)._state.parts[0].segment
    assert segment.nbytes / segment.rows <= (budget or MEMORY_BUDGET_PER_CODE)
    assert segment._plan(PDQ_RADIUS) is not None


@pytest.mark.parametrize(
    ("ids", "delta"),
    [
        (np.arange(3_000), np.uint8),
        (np.arange(3_000) * 7 + 3, np.uint16),
        (np.repeat(np.arange(1_000), 3), np.uint8),  # several codes per id, across block boundaries
        (np.arange(3_000) * 2**20 + 2**40, np.uint32),
        (np.arange(3_000) * 2**32, np.int64),
    ],
)
def test_ids_are_stored_narrow_and_looked_up_exactly(rng, ids, delta) -> None:
    codes = random_codes(rng, ids.size)
    shuffled = rng.permutation(ids.size)
    index = HammingIndex.build(256, ids[shuffled], codes[shuffled])
    segment = index._state.parts[0].segment
    assert segment.id_delta.dtype == delta
    assert np.array_equal(segment.all_ids(), np.sort(ids))
    probe = np.concatenate([ids[::97], ids[::89] + 1, [0, ids.max() + 1]])
    expected_rows = [np.flatnonzero(np.sort(ids) == i) for i in probe]
    assert np.array_equal(segment.rows_of(probe), np.concatenate(expected_rows))
    assert segment.contains(probe).tolist() == [rows.size > 0 for rows in expected_rows]
    assert as_tuples(index.search(codes[:3], 0)) == brute_force(ids, codes, codes[:3], 0)


def test_large_banks_are_split_into_segments_with_narrow_rows(rng, monkeypatch) -> None:
    import moderation.matching.index as index_module

    monkeypatch.setattr(index_module, "MAX_SEGMENT_ROWS", 1_500)
    ids, codes, sources = planted_bank(rng, n=4_000, sources=1)
    index = HammingIndex.build(256, ids, codes, delta_limit=400)
    assert index.segments == 3
    extra = random_codes(rng, 2_000)
    index.add(np.arange(2_000) + 10**6, extra)
    assert max(part.segment.rows for part in index._state.parts) <= 1_500
    all_ids = np.concatenate([ids, np.arange(2_000) + 10**6])
    all_codes = np.concatenate([codes, extra])
    assert len(index) == all_ids.size
    queries = np.concatenate([sources, extra[:2]])
    assert as_tuples(index.search(queries, PDQ_RADIUS)) == brute_force(
        all_ids, all_codes, queries, PDQ_RADIUS
    )
    index.remove(ids[::3])
    index.compact()
    assert all(part.segment.rows <= 1_500 for part in index._state.parts)
    alive = np.ones(all_ids.size, bool)
    alive[: ids.size : 3] = False
    expected = brute_force(all_ids[alive], all_codes[alive], queries, PDQ_RADIUS)
    assert as_tuples(index.search(queries, PDQ_RADIUS)) == expected


def test_format_1_snapshots_are_refused(tmp_path) -> None:
    import json
    import struct

    header = json.dumps({"format": 1, "bits": 256, "tables": 11, "key_bits": 22, "rows": 0, "arrays": {}})
    path = tmp_path / "old.idx"
    path.write_bytes(struct.pack("<8sQ", b"MODHIDX1", 4096) + header.encode().ljust(4096))
    with pytest.raises(IndexSnapshotInvalid) as refused:
        HammingIndex.load(path)
    assert refused.value.code == "index_snapshot_invalid"
    assert "format 1" in str(refused.value)
