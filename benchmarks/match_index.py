"""Benchmark the match index: build, snapshot start-up, memory, query latency, throughput and exactness.

    .venv/bin/python benchmarks/match_index.py --sizes 1000000,10000000 --data uniform,clustered

Data sets (`--data`):

* uniform: random 256-bit codes plus planted near-duplicates (one variant at each distance 0..32 of some
  source codes). The best case for bucket balance.
* clustered: PDQ-like. Real PDQ hashes (pdqhash) of `--images` generated pictures (64 x 64: gradients
  at random angles, upsampled smooth noise, stripes and checks, flat colours, with 0-4 rectangles or
  ellipses on top and sometimes pixel noise; pictures of PDQ quality < 50 are skipped, as banks do) and
  of two near-duplicates of each (a crop of up to 1/16 per side rescaled back, a JPEG re-encode at
  quality 30-90, or a brightness change plus a small caption box and sometimes a blur). Generating 10M
  real image hashes would take hours, so the rest of the bank is filled with bit-flip families around
  these real hashes: each filler code is a random real hash with k random bits flipped, k drawn from the
  distances measured between the real near-duplicates and their originals (those <= 48), so the bank is
  made of tight clusters of about `size / real hashes` codes each, as banks of re-shared media are.
  Queries: half are hashes of fresh near-duplicates of banked pictures (not in the bank), half hashes of
  fresh pictures from the same generator.

For each size, data set and memory budget (`--budgets`, bytes per hash the layout may take) the index is
built in this process and saved as a snapshot. A fresh child process measures start-up (import, map the
snapshot, answer the first query); another maps every snapshot of that size and runs the queries
round-robin over (snapshot x kernel), one query each in turn, so every combination sees the same load
(the machine may be shared): wall time and the thread's CPU time per query. `--kernels` compares the
compiled probe kernel (moderation/matching/_probe.c) with the numpy path, whose answers must be identical.
"""

from __future__ import annotations

import argparse
import io
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

from moderation.matching import segment as segment_module  # noqa: E402
from moderation.matching.codes import scan  # noqa: E402
from moderation.matching.index import HammingIndex  # noqa: E402
from moderation.matching.segment import ARRAYS, Layout  # noqa: E402

CHUNK = 1_000_000
SIDE = 64
COMPILED = segment_module._kernel


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
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, numpy {np.__version__}, "
        f"compiled kernel {'present' if COMPILED is not None else 'ABSENT'}"
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


def uniform_data(rng: np.random.Generator, args: argparse.Namespace, size: int) -> tuple:
    sources = args.planted
    base = size - sources
    words = random_words(rng, base)
    source_rows = rng.choice(base, size=sources, replace=False)
    distances = np.arange(sources) % 33
    planted = np.array([flip(rng, words[r], int(k)) for r, k in zip(source_rows, distances, strict=True)])
    words = np.concatenate([words, planted])
    queries = np.concatenate([words[source_rows], random_words(rng, args.queries - sources)])
    planted_rows = base + np.arange(sources)
    return words, queries, np.stack([np.arange(sources), planted_rows, distances], 1)


# -- clustered, PDQ-like data ---------------------------------------------------------------------------


def generated_image(rng: np.random.Generator) -> np.ndarray:
    """A synthetic picture: gradient, smooth noise, stripes or flat colour, with shapes on top."""
    from PIL import Image

    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    kind = rng.integers(4)
    c0, c1 = rng.random(3) * 255, rng.random(3) * 255
    if kind == 0:
        angle = rng.random() * 2 * np.pi
        t = np.clip(np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5) + 0.5, 0, 1)
        img = c0 + (c1 - c0) * t[..., None]
    elif kind == 1:
        grid = int(rng.integers(2, 9))
        small = (rng.random((grid, grid, 3)) * 255).astype(np.uint8)
        img = np.asarray(Image.fromarray(small).resize((SIDE, SIDE), Image.Resampling.BICUBIC), np.float32)
    elif kind == 2:
        freq, angle = rng.integers(1, 12), rng.random() * np.pi
        t = (np.sin((np.cos(angle) * x + np.sin(angle) * y) * freq * np.pi * 2) > 0).astype(np.float32)
        img = c0 + (c1 - c0) * t[..., None]
    else:
        img = np.broadcast_to(c0, (SIDE, SIDE, 3))
    img = np.array(img, np.float32)
    for _ in range(rng.integers(0, 5)):
        cx, cy, rx, ry = rng.random(4) * [1, 1, 0.4, 0.4] + [0, 0, 0.05, 0.05]
        if rng.random() < 0.5:
            inside = (np.abs(x - cx) < rx) & (np.abs(y - cy) < ry)
        else:
            inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        img[inside] = rng.random(3) * 255
    if rng.random() < 0.3:
        img += rng.normal(0, rng.random() * 20, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def near_duplicate(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A crop rescaled back, a JPEG re-encode, or a brightness change with a caption box."""
    from PIL import Image, ImageFilter

    kind = rng.integers(3)
    pil = Image.fromarray(img)
    if kind == 0:
        c = rng.integers(0, SIDE // 16 + 1, size=4)
        box = (int(c[0]), int(c[1]), SIDE - int(c[2]), SIDE - int(c[3]))
        pil = pil.crop(box).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    elif kind == 1:
        buffer = io.BytesIO()
        pil.save(buffer, "JPEG", quality=int(rng.integers(30, 90)))
        pil = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    else:
        arr = np.asarray(pil, np.float32) * (0.9 + 0.2 * rng.random()) + rng.normal(0, 2, (SIDE, SIDE, 3))
        x0, y0 = rng.integers(0, SIDE - 16, size=2)
        arr[y0 : y0 + 6, x0 : x0 + 10] = rng.random(3) * 255
        pil = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        if rng.random() < 0.5:
            pil = pil.filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(pil)


def pdq_words(img: np.ndarray) -> tuple[np.ndarray, int]:
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(img))
    return np.packbits(bits.astype(np.uint8)).view("<u8").astype(np.uint64), int(quality)


def real_hashes(rng: np.random.Generator, images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bank hashes: pictures and 2 near-duplicates each, near-duplicate distances, queries' pictures)."""
    bank, distances, kept = [], [], []
    while len(kept) < images:
        img = generated_image(rng)
        code, quality = pdq_words(img)
        if quality < 50:
            continue
        kept.append(img)
        bank.append(code)
        for _ in range(2):
            variant = pdq_words(near_duplicate(rng, img))[0]
            bank.append(variant)
            distances.append(int(np.bitwise_count(variant ^ code).sum()))
    return np.array(bank), np.array(distances), np.array(kept)


def flip_families(rng: np.random.Generator, centres: np.ndarray, flips: np.ndarray, n: int) -> np.ndarray:
    """n codes, each a random centre with about k random bits flipped (k drawn from `flips`)."""
    out = np.empty((n, 4), dtype=np.uint64)
    width = int(flips.max(initial=0))
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        rows = centres[rng.integers(0, centres.shape[0], stop - start)].copy()
        k = rng.choice(flips, stop - start)
        positions = rng.integers(0, 256, size=(stop - start, width), dtype=np.uint64)
        for column in range(width):  # a repeated position flips back: distance <= k, nearly always k
            active = column < k
            bit = np.uint64(1) << (positions[:, column] & np.uint64(63))
            word = (positions[:, column] >> np.uint64(6)).astype(np.int64)
            for w in range(4):
                rows[:, w] ^= np.where(active & (word == w), bit, np.uint64(0))
        out[start:stop] = rows
    return out


def clustered_data(rng: np.random.Generator, args: argparse.Namespace, size: int) -> tuple:
    cache = Path(args.workdir) / f"clustered-{args.images}-{args.queries}.npz"
    if cache.exists():
        saved = np.load(cache)
        real, flips, queries = saved["real"], saved["flips"], saved["queries"]
    else:
        real, distances, pictures = real_hashes(rng, args.images)
        flips = distances[distances <= 48]
        fresh_variants = [
            pdq_words(near_duplicate(rng, pictures[i]))[0]
            for i in rng.integers(0, len(pictures), args.queries // 2)
        ]
        fresh_pictures = real_hashes(rng, args.queries - args.queries // 2)[0][::3]
        queries = np.concatenate([np.array(fresh_variants), fresh_pictures])
        np.savez(cache, real=real, flips=flips, queries=queries)
    words = np.concatenate([real, flip_families(rng, real, flips, max(0, size - real.shape[0]))])[:size]
    order = rng.permutation(size)
    return words[order], queries, np.zeros((0, 3), np.int64)


# -- phases ---------------------------------------------------------------------------------------------


def snapshot_path(workdir: Path, budget: float) -> Path:
    return workdir / f"bank-{budget:g}.idx"


def build_phase(args: argparse.Namespace, data: str, size: int, workdir: Path) -> list[dict]:
    rng = np.random.default_rng(size)
    started = time.perf_counter()
    words, queries, planted = (uniform_data if data == "uniform" else clustered_data)(rng, args, size)
    data_s = time.perf_counter() - started
    ids = np.arange(size, dtype=np.int64) * args.id_stride
    np.save(workdir / "queries.npy", queries)
    planted[:, 1] *= args.id_stride
    np.save(workdir / "planted.npy", planted)
    out = []
    for budget in args.budget_list:
        layout = Layout(*map(int, args.layout.split(":"))) if args.layout else None
        before = rss()["VmRSS"]
        started = time.perf_counter()
        index = HammingIndex.build(256, ids, words, layout=layout, memory_budget=budget)
        build_s = time.perf_counter() - started
        after = rss()["VmRSS"]
        segment = index._state.parts[0].segment
        started = time.perf_counter()
        index.save(snapshot_path(workdir, budget))
        save_s = time.perf_counter() - started
        out.append(
            {
                "budget": budget,
                "layout": f"{segment.layout.tables} x ({segment.layout.key_bits} + "
                f"{segment.layout.filter_bits}) bits, {segment.row_bytes}-byte rows, "
                f"{segment.id_delta.dtype} id deltas, {segment.rels.dtype} offsets",
                "data_s": data_s,
                "build_s": build_s,
                "save_s": save_s,
                "structure_bytes_per_hash": index.memory_bytes / size,
                "build_rss_delta_bytes_per_hash": (after - before) / size,
                "snapshot_bytes": snapshot_path(workdir, budget).stat().st_size,
            }
        )
        del index, segment
    return out


def startup_phase(args: argparse.Namespace, workdir: Path, budget: float) -> dict:
    """Runs in a fresh process: import, map the snapshot, answer a first query (plan and kernel ready)."""
    started = time.perf_counter()
    index = HammingIndex.load(snapshot_path(workdir, budget))
    loaded = time.perf_counter()
    index.search(np.load(workdir / "queries.npy")[:1], args.radius)
    done = time.perf_counter()
    return {"load_s": loaded - started, "first_query_s": done - loaded, "startup_s": done - started}


def query_phase(args: argparse.Namespace, workdir: Path) -> dict:
    """Runs in a fresh process: every snapshot mapped, queries round-robin over (snapshot x kernel)."""
    queries = np.load(workdir / "queries.npy")
    planted = np.load(workdir / "planted.npy")
    kernels = {"compiled": COMPILED, "numpy": None}
    combos = []
    figures: dict = {}
    for budget in args.budget_list:
        before = rss()
        index = HammingIndex.load(snapshot_path(workdir, budget))
        segment = index._state.parts[0].segment
        for name in ARRAYS:
            array = getattr(segment, name)
            int(array.reshape(-1)[:: 4096 // array.itemsize].sum())  # fault every page in
        after = rss()
        figures[f"{budget:g}"] = {
            "rss_file_bytes_per_hash": (after.get("RssFile", 0) - before.get("RssFile", 0)) / len(index),
            "rss_anon_bytes_per_hash": (after.get("RssAnon", 0) - before.get("RssAnon", 0)) / len(index),
        }
        for kernel in args.kernel_list:
            if kernel == "compiled" and COMPILED is None:
                continue
            combos.append((f"{budget:g}", kernel, index))
    radius = args.radius

    def run(combo: tuple, q: np.ndarray) -> tuple[float, float, list]:
        segment_module._kernel = kernels[combo[1]]
        wall, cpu = time.perf_counter(), time.thread_time()
        result = combo[2].search(q[None, :], radius)[0]
        return time.perf_counter() - wall, time.thread_time() - cpu, result

    for combo in combos:  # warm-up: plans, caches
        for q in queries[:20]:
            run(combo, q)
    wall = {c[:2]: [] for c in combos}
    cpu = {c[:2]: [] for c in combos}
    results = {c[:2]: [] for c in combos}
    loads = []
    for i, q in enumerate(queries):
        for j in range(len(combos)):
            combo = combos[(i + j) % len(combos)]
            w, c, r = run(combo, q)
            wall[combo[:2]].append(w)
            cpu[combo[:2]].append(c)
            results[combo[:2]].append(r)
        if i % 200 == 0:
            loads.append(os.getloadavg()[0])
    figures["load_during_queries"] = f"{min(loads):.2f}-{max(loads):.2f}"
    # Paced: each query arrives after a pause, as requests reach a server, instead of back to back. A
    # process that waits between queries is not time-sliced against the machine's other processes the
    # way a busy loop is, so on a shared machine this is closer to what a request sees.
    paced = {c[:2]: [] for c in combos}
    if args.pace_ms > 0:
        for i, q in enumerate(queries):
            for j in range(len(combos)):
                combo = combos[(i + j) % len(combos)]
                time.sleep(args.pace_ms / 1e3)
                paced[combo[:2]].append(run(combo, q)[0])
    reference = None
    for combo in combos:
        key = combo[:2]
        w, c = np.array(wall[key]) * 1e3, np.array(cpu[key]) * 1e3
        out = figures[key[0]].setdefault(key[1], {})
        out.update(
            {
                "p50_ms": float(np.percentile(w, 50)),
                "p90_ms": float(np.percentile(w, 90)),
                "p99_ms": float(np.percentile(w, 99)),
                "max_ms": float(w.max()),
                "paced_p50_p99_ms": f"{np.percentile(paced[key], 50) * 1e3:.2f} / "
                f"{np.percentile(paced[key], 99) * 1e3:.2f}"
                if paced[key]
                else "not run",
                "over_5ms_wall_cpu": f"{int((w > 5).sum())} / {int((c > 5).sum())} of {len(w)}",
                "cpu_p50_ms": float(np.percentile(c, 50)),
                "cpu_p99_ms": float(np.percentile(c, 99)),
                "hits_per_query": float(np.mean([len(r) for r in results[key]])),
            }
        )
        if reference is None:
            reference = results[key]
        out["same_answers_as_first"] = (
            f"{sum(a == b for a, b in zip(reference, results[key], strict=True))}/{len(queries)}"
        )
        segment_module._kernel = kernels[key[1]]
        started = time.perf_counter()
        for start in range(0, len(queries), args.batch):
            combo[2].search(queries[start : start + args.batch], radius)
        out["batch_qps"] = len(queries) / (time.perf_counter() - started)

    # exactness against brute force, on a sample, for every combination's answers
    first = combos[0][2]._state.parts[0].segment
    segment_ids = first.all_ids()
    sample = np.unique(np.linspace(0, len(queries) - 1, args.recall_sample).astype(int))
    started = time.perf_counter()
    expected = {}
    for qi in sample:
        _, rows, d = scan(first.words, queries[qi : qi + 1], radius)
        best: dict[int, int] = {}
        for i, dist in zip(segment_ids[rows].tolist(), d.tolist(), strict=True):
            best[i] = min(dist, best.get(i, dist))
        expected[qi] = sorted(best.items(), key=lambda x: (x[1], x[0]))
    figures["brute_force_ms_per_query"] = (time.perf_counter() - started) / len(sample) * 1e3
    for combo in combos:
        key = combo[:2]
        agree = sum(expected[qi] == [(m.id, m.distance) for m in results[key][qi]] for qi in sample)
        figures[key[0]][key[1]]["same_as_brute_force"] = f"{agree}/{len(sample)}"
        if len(planted):
            found = sum(
                any(m.id == row for m in results[key][int(src)]) == (dist <= radius)
                for src, row, dist in planted
            )
            figures[key[0]][key[1]]["planted_correct"] = f"{found}/{len(planted)}"

    # updates, on the first snapshot with the first kernel
    segment_module._kernel = kernels[combos[0][1]]
    index = combos[0][2]
    size = len(index)
    rng = np.random.default_rng(7)
    adds = []
    for batch in range(10):
        new = random_words(rng, 1000)
        t = time.perf_counter()
        index.add(np.arange(1000) + size * args.id_stride + batch * 1000, new)
        adds.append(time.perf_counter() - t)
    t = time.perf_counter()
    index.remove(np.arange(0, size, size // 1000)[:1000] * args.id_stride)
    figures["remove_1000_ms"] = (time.perf_counter() - t) * 1e3
    figures["add_1000_ms_p50"] = float(np.median(adds) * 1e3)
    with_delta = np.array([run(combos[0], q)[0] for q in queries]) * 1e3
    figures["with_10k_delta_p50_p99_ms"] = (
        f"{np.percentile(with_delta, 50):.2f} / {np.percentile(with_delta, 99):.2f}"
    )
    return figures


def child(mode: str, extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", mode, *extra, *sys.argv[1:]]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def faiss_multihash(args: argparse.Namespace, workdir: Path) -> dict:
    """faiss IndexBinaryMultiHash with 8 tables of 22 bits and 3 flips: exact at radius 31 (8 x 4 = 32)."""
    import faiss

    budget = args.budget_list[0]
    segment = HammingIndex.load(snapshot_path(workdir, budget), use_mmap=False)._state.parts[0].segment
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


def show(figures: dict, indent: str = "  ") -> None:
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            show(value, indent + "  ")
        else:
            print(
                f"{indent}{key:32} {value:.3f}" if isinstance(value, float) else f"{indent}{key:32} {value}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--data", default="uniform,clustered", help="uniform and/or clustered")
    parser.add_argument("--budgets", default="64,72", help="memory budgets (bytes per hash), one index each")
    parser.add_argument("--kernels", default="compiled,numpy", help="compiled and/or numpy")
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--planted", type=int, default=990, help="planted sources (1/33 at each distance)")
    parser.add_argument("--images", type=int, default=20000, help="generated pictures (clustered data)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pace-ms", type=float, default=2.0, help="pause before each paced query (0: none)")
    parser.add_argument("--recall-sample", type=int, default=20)
    parser.add_argument("--id-stride", type=int, default=1, help="ids 0, s, 2s...: 1 = dense entry ids")
    parser.add_argument("--layout", help="TABLES:KEY_BITS[:FILTER_BITS] instead of the automatic choice")
    parser.add_argument(
        "--faiss-multihash", action="store_true", help="also build and time faiss IndexBinaryMultiHash"
    )
    parser.add_argument("--workdir", default="/tmp/match_index_bench")
    parser.add_argument("--child", choices=["startup", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--child-budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.budget_list = [float(b) for b in args.budgets.split(",")]
    args.kernel_list = args.kernels.split(",")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.child == "startup":
        print(json.dumps(startup_phase(args, workdir, args.child_budget)))
        return
    if args.child == "query":
        print(json.dumps(query_phase(args, workdir)))
        return
    print(f"machine: {machine()}")
    for size in (int(s) for s in args.sizes.split(",")):
        for data in args.data.split(","):
            print(f"\n== {size:,} hashes, {data}, radius {args.radius} ==", flush=True)
            builds = build_phase(args, data, size, workdir)
            print(f"  load average after build: {os.getloadavg()[0]:.2f}")
            for figures in builds:
                figures.update(child("startup", ["--child-budget", str(figures["budget"])]))
            queried = child("query", [])
            for figures in builds:
                figures.update(queried.pop(f"{figures['budget']:g}"))
                show(figures)
            show(queried)
            if args.faiss_multihash:
                show(faiss_multihash(args, workdir))
            for budget in args.budget_list:
                snapshot_path(workdir, budget).unlink()
    print(f"\nmachine at end: {machine()}")


if __name__ == "__main__":
    main()
