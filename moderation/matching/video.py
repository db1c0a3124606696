"""The video side of the match index: each video entry's usable frames, the candidate search through the
frame index (sampled query frames, with a guarantee), and the frame-by-frame comparison that decides.

Pure: arrays in, arrays out; the match service owns the state and the locking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moderation.hashing.types import pairwise_hamming
from moderation.matching.index import HammingIndex


@dataclass(frozen=True)
class VideoFrames:
    """The usable frames of one video entry (rows ascending): what a video query is verified against."""

    rows: np.ndarray  # int64 frame row ids
    codes: np.ndarray  # (n, 32) uint8 PDQ
    millis: np.ndarray  # int64 timestamps
    numbers: np.ndarray  # int64 frame numbers

    def extended(self, other: VideoFrames) -> VideoFrames:
        rows = np.concatenate([self.rows, other.rows])
        order = np.argsort(rows, kind="stable")
        return VideoFrames(
            rows[order],
            np.concatenate([self.codes, other.codes])[order],
            np.concatenate([self.millis, other.millis])[order],
            np.concatenate([self.numbers, other.numbers])[order],
        )


@dataclass(frozen=True)
class Segment:
    """A run of matched frames, in seconds from the start of the video."""

    start: float
    end: float


def segments(seconds: Sequence[float], gap: float) -> tuple[Segment, ...]:
    """Runs of timestamps no more than `gap` apart, as (start, end) segments."""
    ordered = sorted(set(seconds))
    runs: list[Segment] = []
    for t in ordered:
        if runs and t - runs[-1].end <= gap:
            runs[-1] = Segment(runs[-1].start, t)
        else:
            runs.append(Segment(t, t))
    return tuple(runs)


def frame_of(videos: dict[int, VideoFrames], tops: np.ndarray, row: int) -> tuple[int, str] | None:
    """(video entry id, `frame:<number>:<ms>` label) of a frame row, or None if it just went away."""
    at = int(np.searchsorted(tops, row, side="right")) - 1
    if at < 0:
        return None
    top = int(tops[at])
    video = videos.get(top)
    if video is None:
        return None
    j = int(np.searchsorted(video.rows, row))
    if j >= video.rows.size or int(video.rows[j]) != row:
        return None
    return top, f"frame:{int(video.numbers[j])}:{int(video.millis[j])}"


def sample_positions(count: int, query_pct: float) -> np.ndarray:
    """Evenly spread positions, enough that any set of frames holding `query_pct`% of `count` contains
    one of them (`floor(count * (1 - pct/100)) + 1`; spacing >= 1 keeps rounded positions distinct)."""
    needed = count if query_pct <= 0 else min(count, int(count * (1 - query_pct / 100) + 1e-9) + 1)
    if needed >= count:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, needed)).astype(np.int64))


def segment_gap(seconds: np.ndarray) -> float:
    """Matched frames closer than this belong to one segment: twice the usual spacing of sampled
    frames (collapsed runs leave larger gaps), at least 2 s."""
    if seconds.size < 2:
        return 2.0
    return max(2.0, 2.0 * float(np.median(np.diff(np.sort(seconds)))))


def find_candidates(
    index: HammingIndex,
    videos: dict[int, VideoFrames],
    tops: np.ndarray,
    codes: np.ndarray,
    radius: int,
    query_pct: float,
) -> set[int]:
    """Video entries that some sampled query frame is within `radius` of: a superset of the entries
    that `query_pct`% of the query's frames match (`sample_positions`)."""
    found: set[int] = set()
    if not videos or not codes.shape[0]:
        return found
    for hits in index.search(codes[sample_positions(codes.shape[0], query_pct)], radius):
        for hit in hits:
            located = frame_of(videos, tops, int(hit.id))
            if located is not None:
                found.add(located[0])
    return found


@dataclass(frozen=True)
class Comparison:
    """Which query frames and which entry frames lie within the threshold of one another."""

    query_hit: np.ndarray  # bool per query frame
    entry_hit: np.ndarray  # bool per entry frame
    distance: int  # the smallest frame distance

    @property
    def query_pct(self) -> float:
        return 100.0 * float(self.query_hit.sum()) / max(1, self.query_hit.size)

    @property
    def entry_pct(self) -> float:
        return 100.0 * float(self.entry_hit.sum()) / max(1, self.entry_hit.size)


def compare(codes: np.ndarray, video: VideoFrames, threshold: int) -> Comparison:
    """Every query frame against every frame of one candidate entry (a few hundred by a few hundred)."""
    distances = pairwise_hamming(codes, video.codes)
    within = distances <= threshold
    return Comparison(np.asarray(within.any(axis=1)), np.asarray(within.any(axis=0)), int(distances.min()))
