"""Benchmark video matching robustness: edited copies of generated videos against a bank of distinct ones.

    .venv/bin/python benchmarks/video_robustness.py [--sources 50] [--bank 200] [--seconds 12] [--workers 2]

`--bank` distinct generated videos (panning scenes cut every 3 s, a moving shape, a caption, grain;
H.264, 256x192, 30 fps) are hashed and banked; the first `--sources` of them are edited with every edit
of `benchmarks.video_samples.EDITS` (H.264 -> VP9 at 300 kb/s; half size; 2.5% cropped off each
side, i.e. 5% of each dimension; 24 fps; 2 s trimmed off each end; the middle 10 s; a logo over the top
right corner) and each edited copy is matched with the bank's defaults (PDQ 31, Q 80, C 0) through the
`match_video` code path (frame-index candidates, then frame comparison; each frame's PDQ and its
robust variants, a 2.5% crop and the middle band, as the service stores and queries them). A copy counts as matched when
its source is among its matches; any other bank entry matched is a false match.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine  # noqa: E402

from benchmarks.video_samples import EDITS, Clip, render  # noqa: E402
from moderation.hashing.video import VideoHashes, hash_video  # noqa: E402
from moderation.matching.index import HammingIndex  # noqa: E402
from moderation.matching.video import (  # noqa: E402
    VideoFrames,
    compare,
    entry_frames,
    find_candidates,
    query_frames,
)

SIZE = (256, 192)
THRESHOLD, QUERY_PCT, COMPARED_PCT = 31, 80.0, 0.0


def banked(seed: int, seconds: float) -> tuple[bytes | None, VideoHashes]:
    data = render(Clip(seed=seed, seconds=seconds, size=SIZE, fps=30))
    return data, hash_video(data)


def edited(job: tuple[int, str, bytes]) -> tuple[int, str, VideoHashes]:
    seed, name, data = job
    return seed, name, hash_video(EDITS[name](data, 30))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--bank", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    started = time.perf_counter()
    seeds = list(range(1000, 1000 + args.bank))
    with ProcessPoolExecutor(args.workers) as pool:
        hashed = list(pool.map(banked, seeds, [args.seconds] * len(seeds), chunksize=4))
        print(f"rendered and hashed {len(seeds)} videos in {time.perf_counter() - started:.0f} s")
        videos: dict[int, VideoFrames] = {}
        rows_all, codes_all = [], []
        next_id = 1
        for seed, (_, video) in zip(seeds, hashed, strict=True):
            videos[seed], indexed = entry_frames(video.frames, next_id)
            rows_all.append(videos[seed].rows[indexed])
            codes_all.append(videos[seed].codes[indexed])
            next_id = int(videos[seed].rows[-1]) + 1000
        # Video entry ids are the seeds here; frame rows follow in their own id ranges.
        tops = np.array([int(videos[s].rows[0]) for s in seeds], np.int64)
        by_top = {int(videos[s].rows[0]): s for s in seeds}
        frames = {int(videos[s].rows[0]): videos[s] for s in seeds}
        index = HammingIndex.build(
            256, np.concatenate(rows_all), np.concatenate(codes_all), memory_budget=100.0
        )
        started = time.perf_counter()
        jobs = [(seed, name, hashed[i][0]) for i, seed in enumerate(seeds[: args.sources]) for name in EDITS]
        results = list(pool.map(edited, jobs, chunksize=2))  # type: ignore[arg-type]
        print(f"edited and hashed {len(results)} copies in {time.perf_counter() - started:.0f} s")
    matched: Counter[str] = Counter()
    false: Counter[str] = Counter()
    pct: dict[str, list[float]] = {name: [] for name in EDITS}
    misses = []
    for seed, name, video in results:
        query = query_frames(video.usable_frames)
        found = set()
        for top in find_candidates(index, frames, tops, query, THRESHOLD, QUERY_PCT):
            result = compare(query, frames[top], THRESHOLD)
            if result.query_pct >= QUERY_PCT and result.entry_pct >= COMPARED_PCT:
                found.add(by_top[top])
        own = compare(query, videos[seed], THRESHOLD).query_pct
        pct[name].append(own)
        if seed in found:
            matched[name] += 1
        else:
            misses.append((seed, name, round(own, 1)))
        false[name] += len(found - {seed})
    total = len(results)
    print(f"{'edit':18s} matched   false  median Q% of own frames")
    for name in EDITS:
        count = sum(1 for _, n, _ in results if n == name)
        print(f"{name:18s} {matched[name]:3d}/{count:<3d} {false[name]:6d}  {np.median(pct[name]):6.1f}")
    print(
        f"all: {sum(matched.values())}/{total} matched ({100 * sum(matched.values()) / total:.1f}%), "
        f"{sum(false.values())} false matches, against {len(seeds)} banked videos "
        f"({sum(v.rows.size for v in videos.values())} frame hashes)"
    )
    if misses:
        print(f"missed (seed, edit, Q%): {misses[:20]}")
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
