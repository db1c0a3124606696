"""The video side of the match index: each video entry's usable frames, the candidate search through the
frame index (sampled query frames, with a guarantee), and the frame-by-frame comparison that decides.

Pure: arrays in, arrays out; the match service owns the state and the locking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moderation.hashing.types import PDQ, pairwise_hamming
from moderation.hashing.video import FrameHash
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


QUERY_VARIANTS: tuple[str, ...] = ("band",)
# Entry variants kept for the comparison but not put in the frame index: candidates are found through
# the query's PDQ against the entries' PDQ and crop codes (a logo rarely spoils every sampled frame's
# PDQ), and the band then counts the frames a corner logo pushed out of reach.
UNINDEXED_VARIANTS: frozenset[str] = frozenset({"band"})


@dataclass(frozen=True)
class QueryFrames:
    """A query video's usable frames as codes: each frame's PDQ and its robust variants' (`frame_of`
    maps every code row to its frame, 0..frames-1), with the frames' timestamps."""

    codes: np.ndarray  # (m, 32) uint8
    frame_of: np.ndarray  # (m,) int64
    seconds: np.ndarray  # (frames,) float64

    @property
    def frames(self) -> int:
        return int(self.seconds.shape[0])

    @property
    def plain(self) -> np.ndarray:
        """The code row of each frame's own PDQ (the first of its codes)."""
        first = np.ones(self.frame_of.shape[0], dtype=bool)
        first[1:] = self.frame_of[1:] != self.frame_of[:-1]
        return np.asarray(self.codes[first])


def query_frames(frames: Sequence[FrameHash], kinds: Sequence[str] = QUERY_VARIANTS) -> QueryFrames:
    """The codes a query searches with, in frame order: each usable frame's PDQ, then its variants
    of `kinds`. A query uses its `band` (a corner logo left out) against the entries' PDQ, crop and band;
    its own crop would only add the mirror case (an entry that is the cropped copy) at twice the cost."""
    values: list[str] = []
    owners: list[int] = []
    for position, frame in enumerate(frames):
        variants = dict(frame.variants)
        for value in (frame.pdq, *(variants[k] for k in kinds if k in variants)):
            values.append(value)
            owners.append(position)
    codes = np.frombuffer(b"".join(PDQ.to_bytes(v) for v in values), np.uint8).reshape(-1, 32)
    return QueryFrames(
        codes, np.asarray(owners, np.int64), np.array([f.timestamp for f in frames], np.float64)
    )


def find_candidates(
    index: HammingIndex,
    videos: dict[int, VideoFrames],
    tops: np.ndarray,
    query: QueryFrames,
    radius: int,
    query_pct: float,
) -> set[int]:
    """Video entries that the PDQ of some sampled query frame is within `radius` of (their PDQ or crop
    codes): a superset of the entries that `query_pct`% of the query's frames match through their PDQ
    (`sample_positions`)."""
    found: set[int] = set()
    if not videos or not query.frames:
        return found
    for hits in index.search(query.plain[sample_positions(query.frames, query_pct)], radius):
        for hit in hits:
            located = frame_of(videos, tops, int(hit.id))
            if located is not None:
                found.add(located[0])
    return found


@dataclass(frozen=True)
class Comparison:
    """Which query frames and which entry frames lie within the threshold of one another (a frame
    matches through any of its codes: its PDQ or a robust variant)."""

    query_hit: np.ndarray  # bool per query frame
    entry_hit: np.ndarray  # bool per distinct entry frame
    entry_seconds: np.ndarray  # the distinct entry frames' timestamps
    distance: int  # the smallest code distance

    @property
    def query_pct(self) -> float:
        return 100.0 * float(self.query_hit.sum()) / max(1, self.query_hit.size)

    @property
    def entry_pct(self) -> float:
        return 100.0 * float(self.entry_hit.sum()) / max(1, self.entry_hit.size)


def compare(query: QueryFrames, video: VideoFrames, threshold: int) -> Comparison:
    """Every query code against every code of one candidate entry (a few hundred by a few hundred)."""
    distances = pairwise_hamming(query.codes, video.codes)
    within = distances <= threshold
    query_hit = np.zeros(query.frames, dtype=bool)
    np.logical_or.at(query_hit, query.frame_of, within.any(axis=1))
    entry_frames, entry_of = np.unique(video.millis, return_inverse=True)
    entry_hit = np.zeros(entry_frames.shape[0], dtype=bool)
    np.logical_or.at(entry_hit, entry_of, within.any(axis=0))
    return Comparison(query_hit, entry_hit, entry_frames / 1000.0, int(distances.min()))


def entry_frames(frames: Sequence[FrameHash], first_row: int) -> tuple[VideoFrames, np.ndarray]:
    """A video entry's usable frames and variants as the match service holds them, with row ids from
    `first_row` on, and which of its rows go in the frame index (used where no database is involved)."""
    usable = [f for f in frames if f.usable]
    kinds = ("crop", "band")
    indexed = [
        k not in UNINDEXED_VARIANTS
        for f in usable
        for k in ("pdq", *(k for k in kinds if k in dict(f.variants)))
    ]
    query = query_frames(usable, kinds=kinds)
    millis = np.round(query.seconds * 1000).astype(np.int64)[query.frame_of]
    numbers = np.array([f.frame for f in frames if f.usable], np.int64)[query.frame_of]
    rows = np.arange(first_row, first_row + query.codes.shape[0], dtype=np.int64)
    return VideoFrames(rows, np.ascontiguousarray(query.codes), millis, numbers), np.array(indexed, bool)
