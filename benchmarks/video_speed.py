"""Benchmark video checking speed: a 60 s 1280x720 30 fps H.264 clip, decoded, hashed and matched.

    .venv/bin/python benchmarks/video_speed.py [--seconds 60] [--repeat 3]

The clip is generated (panning scenes, a moving shape, a caption, grain) and encoded twice: with a
keyframe every second (what streaming encoders and most platforms produce) and with libx264's default
(a keyframe at most every 250 frames, i.e. about 8 s). Each is hashed at 1 frame per second by decoding
every frame and by decoding keyframes only, then matched (frame index and verification) against a bank
holding it among 200 other generated videos. Classifier off. The files are cached under /tmp.
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

from benchmarks.video_samples import Clip, render  # noqa: E402
from moderation.hashing.video import VideoHashes, VideoHashOptions, hash_video  # noqa: E402
from moderation.matching.index import HammingIndex  # noqa: E402
from moderation.matching.video import (  # noqa: E402
    VideoFrames,
    compare,
    entry_frames,
    find_candidates,
    query_frames,
)

CACHE = Path("/tmp/moderation-video-bench")


def clip_file(seconds: float, gop: int | None) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"clip-{seconds:g}s-720p-gop{gop or 'default'}.mp4"
    if not path.exists():
        started = time.perf_counter()
        data = render(Clip(seed=720, seconds=seconds, size=(1280, 720), fps=30, scene_seconds=4.0), gop=gop)
        path.write_bytes(data)
        print(f"rendered {path.name}: {len(data) / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s")
    return path


def bank(reference: VideoHashes) -> tuple[HammingIndex, dict[int, VideoFrames], np.ndarray]:
    rng = np.random.default_rng(3)
    videos: dict[int, VideoFrames] = {}
    rows_all, codes_all = [], []
    next_id = 1
    for number in range(201):
        if number == 100:
            entry, indexed = entry_frames(reference.frames, next_id + 1)
        else:
            codes = rng.integers(0, 256, (180, 32), dtype=np.uint8)
            rows = np.arange(next_id + 1, next_id + 181, dtype=np.int64)
            millis = np.repeat(np.arange(60, dtype=np.int64) * 1000, 3)
            entry = VideoFrames(rows, codes, millis, millis * 30 // 1000)
            indexed = np.tile([True, True, False], 60)
        videos[next_id] = entry
        rows_all.append(entry.rows[indexed])
        codes_all.append(entry.codes[indexed])
        next_id = int(entry.rows[-1]) + 1
    index = HammingIndex.build(256, np.concatenate(rows_all), np.concatenate(codes_all), memory_budget=100.0)
    return index, videos, np.array(sorted(videos), dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    files = {
        "keyframe every 1 s": clip_file(args.seconds, 30),
        "x264 default GOP": clip_file(args.seconds, None),
    }
    reference = hash_video(files["keyframe every 1 s"], options=VideoHashOptions(decode="all"))
    index, videos, tops = bank(reference)
    for label, path in files.items():
        for mode in ("all", "keyframes", "auto"):
            timings, matched = [], ""
            for _ in range(args.repeat):
                started, cpu = time.perf_counter(), time.process_time()
                video = hash_video(path, options=VideoHashOptions(decode=mode))  # type: ignore[arg-type]
                hashed = time.perf_counter() - started
                query = query_frames(video.usable_frames)
                found = find_candidates(index, videos, tops, query, 31, 80.0)
                results = {top: compare(query, videos[top], 31) for top in found}
                total = time.perf_counter() - started
                timings.append((hashed, total, time.process_time() - cpu))
                matched = ", ".join(f"{r.query_pct:.0f}%/{r.entry_pct:.0f}%" for r in results.values())
            median_total = statistics.median(t for _, t, _ in timings)
            median_hash = statistics.median(h for h, _, _ in timings)
            median_cpu = statistics.median(c for _, _, c in timings)
            print(
                f"{label:20s} decode={mode:9s} -> {video.decode:9s}: decode+hash {median_hash:.2f} s, "
                f"+match {median_total:.2f} s wall, {median_cpu:.2f} s CPU (median of {args.repeat}; "
                f"{args.seconds / median_total:.0f}x real time); decoded {video.decoded_frames} frames, "
                f"{len(video.frames)} hashed; match Q/C {matched or 'none'}"
            )
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
