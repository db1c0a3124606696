"""The compiled probe kernel returns the numpy path's hits in the same order; both equal brute force."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.matching import segment as segment_module
from moderation.matching.codes import pack_codes
from moderation.matching.index import HammingIndex
from moderation.matching.segment import Layout, Segment
from tests.matching.conftest import as_tuples, brute_force, flip_bits, pdq_like_bank, random_codes

PDQ_RADIUS = 31
compiled_only = pytest.mark.skipif(
    segment_module._kernel is None, reason="compiled kernel not built (no C compiler at install)"
)


def test_the_kernel_is_built_where_a_c_compiler_is_present() -> None:
    """Otherwise every compiled-only test here would skip and the index would silently run 4-6x slower."""
    import shutil
    import sysconfig

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the numpy path is the one in use")
    assert segment_module._kernel is not None, (
        "moderation/matching/_probe.c is not built: run `pip install -e .` "
        "or `python setup.py build_ext --inplace`"
    )


@pytest.fixture(params=["compiled", "numpy"])
def kernel(request, monkeypatch) -> str:
    if request.param == "numpy":
        monkeypatch.setattr(segment_module, "_kernel", None)
    elif segment_module._kernel is None:
        pytest.skip("compiled kernel not built (no C compiler at install)")
    return str(request.param)


def both_paths(segment: Segment, queries: np.ndarray, radius: int):
    plan = segment._plan(radius)
    assert plan is not None
    words = pack_codes(queries, segment.bits)
    return segment._probe(words, plan, radius, 0), segment._probe_compiled(words, plan, radius)


@compiled_only
@pytest.mark.parametrize(
    ("rows", "layout", "row_bytes"),
    [
        (70_000, None, 3),
        (70_000, Layout(8, 14, 4), 3),
        (70_000, Layout(10, 16, 0), 3),
        (5_000, Layout(6, 10, 4), 2),
        (5_000, Layout(16, 12, 0), 2),
    ],
)
@pytest.mark.parametrize("radius", [0, 8, 31, 40])
def test_compiled_kernel_returns_the_numpy_hits_in_the_same_order(
    rng, rows, layout, row_bytes, radius
) -> None:
    codes = random_codes(rng, rows)
    near = [flip_bits(rng, codes[i], k) for i, k in zip(range(0, 60, 3), range(0, 40, 2), strict=True)]
    queries = np.concatenate([np.array(near), random_codes(rng, 10)])
    segment = HammingIndex.build(256, np.arange(rows) * 3, codes, layout=layout)._state.parts[0].segment
    assert segment.row_bytes == row_bytes
    if segment._plan(radius) is None:
        pytest.skip("this layout scans at this radius")
    numpy_hits, compiled_hits = both_paths(segment, queries, radius)
    assert numpy_hits[0].size > 0
    for expected, got in zip(numpy_hits, compiled_hits, strict=True):
        assert got.dtype == np.int64
        assert np.array_equal(expected, got)


@compiled_only
def test_crowded_buckets_with_wide_offsets_and_many_hits(rng) -> None:
    """4,000 copies of one code: their blocks are kept whole in `wide`, the rest stays 1 byte per bucket."""
    codes = np.concatenate([np.repeat(random_codes(rng, 1), 4_000, axis=0), random_codes(rng, 6_000)])
    segment = HammingIndex.build(256, np.arange(10_000), codes)._state.parts[0].segment
    assert segment.rels.dtype == np.uint8
    # at most one crowded block per table (none where the crowded bucket is its block's last)
    assert 0 < segment.wide.size <= segment.layout.tables * 32
    assert segment.wide.size % 32 == 0
    numpy_hits, compiled_hits = both_paths(segment, np.concatenate([codes[:1], codes[-3:]]), PDQ_RADIUS)
    assert numpy_hits[0].size >= 4_000 * segment.layout.tables  # found once per table
    for expected, got in zip(numpy_hits, compiled_hits, strict=True):
        assert np.array_equal(expected, got)


def test_clustered_pdq_bank_matches_brute_force(rng, kernel) -> None:
    """Hashes of generated pictures and their re-encodes, filled with near-duplicate families."""
    codes, queries, _ = pdq_like_bank(rng, pictures=60, size=30_000)
    ids = np.arange(codes.shape[0]) * 5 + 1
    index = HammingIndex.build(256, ids, codes, memory_budget=64)
    assert index._state.parts[0].segment._plan(PDQ_RADIUS) is not None
    got = as_tuples(index.search(queries, PDQ_RADIUS))
    assert got == brute_force(ids, codes, queries, PDQ_RADIUS)
    assert sum(len(row) for row in got) > 100  # clustered: queries land among many near codes
    assert as_tuples([index.search_one(q, PDQ_RADIUS) for q in queries]) == got


def test_both_paths_agree_through_updates_and_snapshots(rng, kernel, tmp_path) -> None:
    codes = random_codes(rng, 20_000)
    index = HammingIndex.build(256, np.arange(20_000), codes, delta_limit=500)
    extra = np.array([flip_bits(rng, codes[i], 5) for i in range(1_000)])
    index.add(np.arange(1_000) + 50_000, extra)
    index.remove(np.arange(0, 20_000, 7))
    index.save(tmp_path / "bank.idx")
    loaded = HammingIndex.load(tmp_path / "bank.idx")
    alive = np.ones(20_000, bool)
    alive[::7] = False
    ids = np.concatenate([np.arange(20_000)[alive], np.arange(1_000) + 50_000])
    everything = np.concatenate([codes[alive], extra])
    queries = np.concatenate([codes[:20], extra[:5], random_codes(rng, 3)])
    expected = brute_force(ids, everything, queries, PDQ_RADIUS)
    assert as_tuples(index.search(queries, PDQ_RADIUS)) == expected
    assert as_tuples(loaded.search(queries, PDQ_RADIUS)) == expected


@compiled_only
def test_tables_pointing_outside_the_segment_raise_instead_of_reading_past_the_end(rng) -> None:
    codes = random_codes(rng, 20_000)
    segment = (
        HammingIndex.build(256, np.arange(20_000), codes, layout=Layout(8, 14, 4))._state.parts[0].segment
    )
    assert segment._plan(PDQ_RADIUS) is not None
    corrupt = Segment(
        segment.bits,
        segment.layout,
        segment.id_base,
        segment.id_delta,
        segment.words,
        np.full_like(segment.table_rows, 0xFF),
        segment.filters,
        segment.bases,
        segment.rels,
    )
    with pytest.raises(ValueError, match="outside the segment"):
        corrupt.search(pack_codes(random_codes(rng, 2), 256), PDQ_RADIUS)
    bad_offsets = np.full_like(segment.bases, 2**31)
    corrupt = Segment(
        segment.bits,
        segment.layout,
        segment.id_base,
        segment.id_delta,
        segment.words,
        segment.table_rows,
        segment.filters,
        bad_offsets,
        segment.rels,
    )
    with pytest.raises(ValueError, match="outside the segment"):
        corrupt.search(pack_codes(random_codes(rng, 2), 256), PDQ_RADIUS)


def test_crowded_blocks_survive_a_snapshot_on_both_paths(rng, kernel, tmp_path) -> None:
    codes = np.concatenate([np.repeat(random_codes(rng, 2), 1_500, axis=0), random_codes(rng, 7_000)])
    codes[:3_000] = [
        flip_bits(rng, code, int(k)) for code, k in zip(codes[:3_000], rng.integers(0, 6, 3_000), strict=True)
    ]
    ids = np.arange(codes.shape[0])
    index = HammingIndex.build(256, ids, codes)
    assert index._state.parts[0].segment.wide.size > 0
    index.save(tmp_path / "bank.idx")
    loaded = HammingIndex.load(tmp_path / "bank.idx")
    assert np.array_equal(loaded._state.parts[0].segment.wide, index._state.parts[0].segment.wide)
    queries = np.concatenate([codes[:1], codes[1_500:1_501], codes[-2:]])
    expected = brute_force(ids, codes, queries, PDQ_RADIUS)
    assert as_tuples(index.search(queries, PDQ_RADIUS)) == expected
    assert as_tuples(loaded.search(queries, PDQ_RADIUS)) == expected


def test_format_2_snapshots_are_still_read(rng, kernel, tmp_path, monkeypatch) -> None:
    """Snapshots written before `wide` existed (format 2) load and answer the same."""
    from moderation.matching import snapshot

    codes = random_codes(rng, 5_000)
    index = HammingIndex.build(256, np.arange(5_000), codes)
    with monkeypatch.context() as patch:  # what the previous version wrote
        patch.setattr(snapshot, "FORMAT_VERSION", 2)
        patch.setattr(snapshot, "ARRAYS", tuple(name for name in snapshot.ARRAYS if name != "wide"))
        index.save(tmp_path / "old.idx")
    header = (tmp_path / "old.idx").read_bytes()[:4096]
    assert b'"format": 2' in header and b'"wide"' not in header
    loaded = HammingIndex.load(tmp_path / "old.idx")
    queries = codes[:5]
    assert as_tuples(loaded.search(queries, PDQ_RADIUS)) == brute_force(
        np.arange(5_000), codes, queries, PDQ_RADIUS
    )
