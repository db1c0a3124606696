"""Benchmark video matching: a 600-frame query against 10,000 banked videos (~1M frame hashes).

    .venv/bin/python benchmarks/video_matching.py [--videos 10000] [--repeat 5]

Banked videos have 40-160 sampled frames (mean 100) and one has 600; each video is a run of scenes whose
frames share a base hash with about 30 bits flipped per frame (consecutive sampled frames of one scene),
and each frame also has its two robust variant codes (as the service stores them), so the frame index
holds about 3M codes.
Queries: the 600-frame video re-encoded (every frame about 13 bits from its original), and 600 frames of
unrelated content. Timed: the code path of `MatchService.match_video` for video entries, i.e. the
candidate search through the frame index (`find_candidates`, sampled query frames, Q = 80) and the
frame-by-frame comparison of each candidate (`compare`), with the decision against Q and C.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine  # noqa: E402

from moderation.matching.index import HammingIndex  # noqa: E402
from moderation.matching.video import QueryFrames, VideoFrames, compare, find_candidates  # noqa: E402

THRESHOLD = 31
QUERY_PCT = 80.0
FRAME_INDEX_BUDGET = 100.0  # the match service's memory budget for the frame index


def scenes(rng: np.random.Generator, frames: int, flip: float) -> np.ndarray:
    bases = np.unpackbits(rng.integers(0, 256, (frames // 5 + 1, 32), dtype=np.uint8), axis=1)
    bits = np.repeat(bases, 5, axis=0)[:frames]
    return np.packbits(bits ^ (rng.random(bits.shape) < flip), axis=1)


def noisy(rng: np.random.Generator, codes: np.ndarray, flip: float) -> np.ndarray:
    bits = np.unpackbits(codes, axis=1)
    return np.packbits(bits ^ (rng.random(bits.shape) < flip), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variants", type=int, default=2, help="robust variant codes per frame")
    args = parser.parse_args()
    rng = np.random.default_rng(14)
    lengths = rng.integers(40, 161, args.videos)
    lengths[0] = 600
    videos: dict[int, VideoFrames] = {}
    all_rows, all_codes = [], []
    next_id = 1
    for length in lengths.tolist():
        top = next_id
        plain = scenes(rng, length, 0.12)
        # Each frame's variants (a crop, the middle band) are some 50 bits from its PDQ.
        codes = np.concatenate([plain, *(noisy(rng, plain, 0.2) for _ in range(args.variants))])
        rows = np.arange(top + 1, top + 1 + codes.shape[0], dtype=np.int64)
        millis = np.tile(np.arange(length, dtype=np.int64) * 1000, 1 + args.variants)
        videos[top] = VideoFrames(rows, codes, millis, millis // 1000 * 30)
        # The band variant (the last) is kept for the comparison, not indexed (`UNINDEXED_VARIANTS`).
        indexed = slice(None) if args.variants < 2 else slice(0, length * args.variants)
        all_rows.append(rows[indexed])
        all_codes.append(codes[indexed])
        next_id = top + 1 + codes.shape[0]
    tops = np.array(sorted(videos), dtype=np.int64)
    started = time.perf_counter()
    index = HammingIndex.build(
        256, np.concatenate(all_rows), np.concatenate(all_codes), memory_budget=FRAME_INDEX_BUDGET
    )
    build = time.perf_counter() - started
    print(f"machine: {machine()}")
    print(
        f"banked: {args.videos} videos, {int(lengths.sum()):,} frames, {len(index):,} codes "
        f"(PDQ + {args.variants} variants per frame); frame index built in {build:.1f} s, "
        f"{index.memory_bytes / len(index):.1f} bytes per code"
    )
    target = videos[1]
    # A query searches with each frame's PDQ and its band variant (`QUERY_VARIANTS`).
    query_codes = 2 if args.variants else 1
    owners = np.tile(np.arange(600, dtype=np.int64), query_codes)
    order = np.argsort(owners, kind="stable")
    seconds = np.arange(600, dtype=np.float64)

    def query(codes: np.ndarray) -> QueryFrames:
        return QueryFrames(np.ascontiguousarray(codes[order]), owners[order], seconds)

    def query_side(codes: np.ndarray) -> np.ndarray:
        # The entry's PDQ codes and, with variants, its band codes (the last 600).
        return codes[:600] if query_codes == 1 else np.concatenate([codes[:600], codes[-600:]])

    unrelated = scenes(rng, 600, 0.12)
    queries = {
        "re-encoded 600-frame banked video": query(noisy(rng, query_side(target.codes), 0.05)),
        "600 frames of unrelated content": query(
            np.concatenate([unrelated, *(noisy(rng, unrelated, 0.2) for _ in range(query_codes - 1))])
        ),
    }
    for name, codes in queries.items():
        timings, cpu, matched = [], [], []
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            candidates = find_candidates(index, videos, tops, codes, THRESHOLD, QUERY_PCT)
            matched = []
            for top in sorted(candidates):
                result = compare(codes, videos[top], THRESHOLD)
                if result.query_pct >= QUERY_PCT:
                    matched.append((top, round(result.query_pct, 1), round(result.entry_pct, 1)))
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        print(
            f"{name}: median {statistics.median(timings) * 1000:.1f} ms, "
            f"min {min(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms over {args.repeat} "
            f"(CPU median {statistics.median(cpu) * 1000:.1f} ms); "
            f"candidates {len(candidates)}, matched {matched}"
        )
    started = time.perf_counter()
    index.search(queries["re-encoded 600-frame banked video"].codes, THRESHOLD)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"for comparison, every code of all 600 frames through the frame index: {elapsed:.0f} ms")
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
