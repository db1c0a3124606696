"""Benchmark the match index: build, snapshot load, memory, query latency, throughput and recall.

    .venv/bin/python benchmarks/match_index.py --sizes 1000000,10000000

For each size: random 256-bit codes plus planted near-duplicates (one variant at each distance 0..32 of
some source codes), built in this process and saved as a snapshot; a fresh child process then loads the
snapshot (memory-mapped), so its figures are what a worker process sees at start-up. Random codes are the
best case for bucket balance: real PDQ hashes cluster, which lengthens some buckets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.matching.codes import scan  # noqa: E402
from moderation.matching.index import HammingIndex  # noqa: E402
from moderation.matching.segment import ARRAYS, Layout  # noqa: E402

CHUNK = 1_000_000


def machine() -> str:
    model = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{platform.node()} {platform.machine()} {model}, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, numpy {np.__version__}"
    )


def rss() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def random_words(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty((n, 4), dtype=np.uint64)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        out[start:stop] = rng.integers(0, 2**64 - 1, size=(stop - start, 4), dtype=np.uint64, endpoint=True)
    return out


def flip(rng: np.random.Generator, word_row: np.ndarray, k: int) -> np.ndarray:
    row = word_row.copy()
    for bit in rng.choice(256, size=k, replace=False):
        row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return row


def build_phase(args: argparse.Namespace, size: int, workdir: Path) -> dict:
    rng = np.random.default_rng(size)
    sources = args.planted
    base = size - sources
    words = random_words(rng, base)
    source_rows = rng.choice(base, size=sources, replace=False)
    distances = np.arange(sources) % 33
    planted = np.array([flip(rng, words[r], int(k)) for r, k in zip(source_rows, distances, strict=True)])
    words = np.concatenate([words, planted])
    ids = np.arange(size, dtype=np.int64) * args.id_stride
    queries = np.concatenate([words[source_rows], random_words(rng, args.queries - sources)])
    np.save(workdir / "queries.npy", queries)
    planted_ids = (base + np.arange(sources)) * args.id_stride
    np.save(workdir / "planted.npy", np.stack([np.arange(sources), planted_ids, distances], 1))

    layout = Layout(*map(int, args.layout.split(":"))) if args.layout else None
    before = rss()["VmRSS"]
    started = time.perf_counter()
    index = HammingIndex.build(256, ids, words, layout=layout)
    build_s = time.perf_counter() - started
    after = rss()["VmRSS"]
    segment = index._state.parts[0].segment
    started = time.perf_counter()
    index.save(workdir / "bank.idx")
    save_s = time.perf_counter() - started
    return {
        "size": size,
        "layout": f"{segment.layout.tables} tables x ({segment.layout.key_bits} bucket + "
        f"{segment.layout.filter_bits} filter) bits, {segment.row_bytes}-byte rows, "
        f"{segment.id_delta.dtype} id deltas, {segment.rels.dtype} offsets",
        "build_s": build_s,
        "save_s": save_s,
        "structure_bytes_per_hash": index.memory_bytes / size,
        "build_rss_delta_bytes_per_hash": (after - before) / size,
        "snapshot_bytes": (workdir / "bank.idx").stat().st_size,
    }


def query_phase(args: argparse.Namespace, workdir: Path) -> dict:
    """Runs in a fresh process: start-up from the snapshot, then queries."""
    queries = np.load(workdir / "queries.npy")
    planted = np.load(workdir / "planted.npy")
    before = rss()
    started = time.perf_counter()
    index = HammingIndex.load(workdir / "bank.idx")
    load_s = time.perf_counter() - started
    segment = index._state.parts[0].segment
    started = time.perf_counter()
    for name in ARRAYS:
        array = getattr(segment, name)
        int(array.reshape(-1)[:: 4096 // array.itemsize].sum())  # fault every page in
    warm_s = time.perf_counter() - started
    after = rss()
    size = len(index)
    radius = args.radius

    def latencies(count: int) -> np.ndarray:
        out = []
        for q in queries[:count]:
            t = time.perf_counter()
            index.search(q[None, :], radius)
            out.append(time.perf_counter() - t)
        return np.array(out) * 1e3

    latencies(20)
    single = latencies(len(queries))
    started = time.perf_counter()
    results = []
    for start in range(0, len(queries), args.batch):
        results.extend(index.search(queries[start : start + args.batch], radius))
    batch_qps = len(queries) / (time.perf_counter() - started)

    planted_found = sum(
        any(m.id == row for m in results[int(src)]) == (dist <= radius) for src, row, dist in planted
    )
    sample = np.concatenate(
        [
            np.arange(min(args.recall_sample // 2, len(planted))),
            len(planted) + np.arange(args.recall_sample // 2),
        ]
    )
    segment_ids = segment.all_ids()
    started = time.perf_counter()
    agree = 0
    for qi in sample:
        _, rows, d = scan(segment.words, queries[qi : qi + 1], radius)
        expected = sorted(
            zip(segment_ids[rows].tolist(), d.tolist(), strict=True), key=lambda x: (x[1], x[0])
        )
        agree += expected == [(m.id, m.distance) for m in results[qi]]
    brute_ms = (time.perf_counter() - started) / len(sample) * 1e3

    rng = np.random.default_rng(7)
    adds = []
    for batch in range(10):
        new = random_words(rng, 1000)
        t = time.perf_counter()
        index.add(np.arange(1000) + size + batch * 1000, new)
        adds.append(time.perf_counter() - t)
    t = time.perf_counter()
    index.remove(np.arange(0, size, size // 1000)[:1000])
    remove_ms = (time.perf_counter() - t) * 1e3
    with_delta = latencies(len(queries))
    return {
        "load_s": load_s,
        "warm_s": warm_s,
        "rss_file_bytes_per_hash": (after.get("RssFile", 0) - before.get("RssFile", 0)) / size,
        "rss_anon_bytes_per_hash": (after.get("RssAnon", 0) - before.get("RssAnon", 0)) / size,
        "p50_ms": float(np.percentile(single, 50)),
        "p99_ms": float(np.percentile(single, 99)),
        "max_ms": float(single.max()),
        "batch_qps": batch_qps,
        "planted_correct": f"{planted_found}/{len(planted)}",
        "recall_vs_brute_force": f"{agree}/{len(sample)}",
        "brute_force_ms_per_query": brute_ms,
        "add_1000_ms_p50": float(np.median(adds) * 1e3),
        "remove_1000_ms": remove_ms,
        "with_delta_p50_ms": float(np.percentile(with_delta, 50)),
        "with_delta_p99_ms": float(np.percentile(with_delta, 99)),
        "segments_after_adds": index.segments,
    }


def faiss_flat(args: argparse.Namespace, workdir: Path) -> float:
    import faiss

    segment = HammingIndex.load(workdir / "bank.idx")._state.parts[0].segment
    flat = faiss.IndexBinaryFlat(256)
    flat.add(np.ascontiguousarray(segment.words).view(np.uint8))
    queries = np.load(workdir / "queries.npy")[:50].view(np.uint8)
    flat.range_search(queries[:2], args.radius + 1)
    out = []
    for q in queries:
        t = time.perf_counter()
        flat.range_search(q[None, :], args.radius + 1)  # faiss excludes the radius itself
        out.append(time.perf_counter() - t)
    return float(np.median(out) * 1e3)


def faiss_multihash(args: argparse.Namespace, workdir: Path) -> dict:
    """faiss IndexBinaryMultiHash with 8 tables of 22 bits and 3 flips: exact at radius 31 (8 x 4 = 32)."""
    import faiss

    segment = HammingIndex.load(workdir / "bank.idx", use_mmap=False)._state.parts[0].segment
    codes = np.ascontiguousarray(segment.words).view(np.uint8)
    ids = segment.all_ids()
    queries = np.load(workdir / "queries.npy").view(np.uint8)
    before = rss()["VmRSS"]
    started = time.perf_counter()
    multi = faiss.IndexBinaryMultiHash(256, 8, 22)
    multi.nflip = 3
    multi.add(codes)
    build_s = time.perf_counter() - started
    grown = rss()["VmRSS"] - before
    out, agree = [], 0
    for qi, q in enumerate(queries[: args.recall_sample * 10]):
        t = time.perf_counter()
        _, dist, labels = multi.range_search(q[None, :], args.radius + 1)  # excludes the radius itself
        out.append(time.perf_counter() - t)
        if qi < args.recall_sample:
            _, rows, d = scan(segment.words, q.view(np.uint64)[None, :], args.radius)
            agree += sorted(zip(ids[rows].tolist(), d.tolist(), strict=True)) == sorted(
                zip(ids[labels].tolist(), dist.tolist(), strict=True)
            )
    return {
        "faiss_multihash_build_s": build_s,
        "faiss_multihash_rss_bytes_per_hash": grown / segment.rows,
        "faiss_multihash_p50_ms": float(np.percentile(np.array(out) * 1e3, 50)),
        "faiss_multihash_p99_ms": float(np.percentile(np.array(out) * 1e3, 99)),
        "faiss_multihash_same_as_brute_force": f"{agree}/{args.recall_sample}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--planted", type=int, default=990, help="planted sources (1/33 at each distance)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--recall-sample", type=int, default=20)
    parser.add_argument("--id-stride", type=int, default=1, help="ids 0, s, 2s...: 1 = dense entry ids")
    parser.add_argument("--layout", help="TABLES:KEY_BITS[:FILTER_BITS] instead of the automatic choice")
    parser.add_argument("--faiss", action="store_true", help="also time faiss IndexBinaryFlat range_search")
    parser.add_argument(
        "--faiss-multihash", action="store_true", help="also build and time faiss IndexBinaryMultiHash"
    )
    parser.add_argument("--workdir", default="/tmp/match_index_bench")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(query_phase(args, workdir)))
        return
    print(f"machine: {machine()}")
    for size in (int(s) for s in args.sizes.split(",")):
        figures = build_phase(args, size, workdir)
        child = subprocess.run(
            [sys.executable, __file__, "--child", *sys.argv[1:]], check=True, capture_output=True, text=True
        )
        figures.update(json.loads(child.stdout.strip().splitlines()[-1]))
        if args.faiss:
            figures["faiss_flat_ms_per_query"] = faiss_flat(args, workdir)
        if args.faiss_multihash:
            figures.update(faiss_multihash(args, workdir))
        print(f"\n== {size:,} PDQ hashes, radius {args.radius} ==")
        for key, value in figures.items():
            print(f"  {key:32} {value:.3f}" if isinstance(value, float) else f"  {key:32} {value}")
        (workdir / "bank.idx").unlink()
    print(f"\nmachine at end: {machine()}")


if __name__ == "__main__":
    main()
