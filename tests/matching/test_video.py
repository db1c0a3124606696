"""Video matching: vPDQ semantics with per-bank Q and C, clips and containing videos, banked stills found
in a video with their timestamps, exact file hashes, frames of banked videos matched by images, disable,
delete, allow lists, imported frame lists, and a snapshot round trip."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.banks.service import banks
from moderation.hashing.hashers import pdq_of_array
from moderation.hashing.video import VideoHashes, hash_video
from moderation.matching.service import MatchService, VideoMatch
from moderation.matching.video import Segment, sample_positions
from tests.hashing.factories import encode
from tests.hashing.video_factories import clip, concat, cut, frame_at


@pytest.fixture
def matcher(engine: Engine) -> Iterator[MatchService]:
    service = MatchService()
    service.start(engine, refresh_seconds=60, background=False)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def banked() -> bytes:
    return clip(seed=11, seconds=8.0)


def _bank(session: Session, name: str = "videos", **settings: object) -> None:
    banks.create(session, name=name, actor="t", **settings)  # type: ignore[arg-type]


def _add(session: Session, bank: str, video: VideoHashes) -> int:
    entry = banks.add_video(session, bank, video, actor="t")[0]
    session.commit()
    return entry.id


def _match(matcher: MatchService, data: bytes) -> list[VideoMatch]:
    matcher.refresh()
    video = hash_video(data)
    return matcher.match_video(video.frames, exact=video.typed())


def test_a_clip_cut_from_a_banked_video_matches_with_its_segments(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session)
    entry = _add(session, "videos", hash_video(banked))
    [match] = _match(matcher, cut(banked, 2.0, 6.0))
    assert (match.kind, match.entry_id, match.bank, match.action) == ("video", entry, "videos", "block")
    assert match.query_match_pct == 100.0
    assert 40.0 <= match.entry_match_pct <= 60.0  # type: ignore[operator]
    assert match.query_segments == (Segment(0.0, 3.0),)
    assert match.entry_segments == (Segment(2.0, 5.0),)
    assert match.distance <= match.threshold == 31
    assert _match(matcher, clip(seed=12, seconds=4.0)) == []


def test_query_and_compared_percentages_are_per_bank(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session, "q50", video_query_match_pct=50.0)
    _bank(session, "q80")
    _bank(session, "c90", video_query_match_pct=50.0, video_compared_match_pct=90.0)
    video = hash_video(banked)
    ids = {name: _add(session, name, video) for name in ("q50", "q80", "c90")}
    # Half of the query is the banked video's first 4 seconds, half is something else.
    mixed = concat(cut(banked, 0.0, 4.0), clip(seed=13, seconds=4.0))
    found = {m.bank: m for m in _match(matcher, mixed)}
    assert set(found) == {"q50"}
    assert found["q50"].entry_id == ids["q50"]
    assert found["q50"].query_match_pct == 50.0
    assert found["q50"].query_segments == (Segment(0.0, 3.0),)
    # The whole banked video inside a longer one: every entry frame is found, so C = 100.
    longer = concat(clip(seed=14, seconds=2.0), banked)
    found = {m.bank: m for m in _match(matcher, longer)}
    assert set(found) == {"q50", "q80", "c90"}
    assert found["c90"].entry_match_pct == 100.0
    assert found["q80"].query_match_pct == 80.0
    assert found["q80"].query_segments == (Segment(2.0, 9.0),)
    banks.update(session, "q80", video_query_match_pct=81.0, actor="t")
    session.commit()
    assert {m.bank for m in _match(matcher, longer)} == {"q50", "c90"}


def test_a_banked_still_in_a_video_matches_with_its_timestamps(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session, "stills")
    still = frame_at(banked, 5.0)
    entry = banks.add_image(session, "stills", encode(Image.fromarray(still), "PNG"), actor="t")[0]
    session.commit()
    [match] = _match(matcher, banked)
    assert (match.kind, match.entry_id, match.entry_match_pct) == ("image", entry.id, None)
    assert match.frames_matched >= 1
    assert all(s.start >= 4.0 and s.end <= 6.0 for s in match.query_segments)
    assert any(s.start <= 5.0 <= s.end for s in match.query_segments)


def test_exact_file_hashes_and_imported_md5_lists_match(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session, "ncmec")
    video = hash_video(banked)
    [entry] = banks.add_hashes(session, "ncmec", [("md5", video.md5)], source="import:ncmec", actor="t")
    session.commit()
    [match] = _match(matcher, banked)
    assert (match.kind, match.hash_type, match.entry_id, match.query_match_pct) == (
        "exact",
        "md5",
        entry.id,
        100.0,
    )
    assert _match(matcher, cut(banked, 0.0, 8.0)) == []  # a re-encode has another MD5


def test_an_image_that_is_a_frame_of_a_banked_video_matches_that_video(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session)
    entry = _add(session, "videos", hash_video(banked))
    matcher.refresh()
    pdq, _quality = pdq_of_array(frame_at(banked, 3.0))
    [match] = matcher.match([("pdq", pdq)])
    assert (match.entry_id, match.variant) == (entry, "frame:90:3000")
    assert matcher.match([("pdq", pdq_of_array(frame_at(clip(seed=15), 1.0))[0])]) == []


def test_disabled_deleted_and_allowed_entries(session: Session, matcher: MatchService, banked: bytes) -> None:
    _bank(session)
    video = hash_video(banked)
    entry = _add(session, "videos", video)
    query = cut(banked, 1.0, 5.0)
    assert [m.entry_id for m in _match(matcher, query)] == [entry]
    banks.disable_entry(session, entry, actor="t")
    session.commit()
    assert _match(matcher, query) == []
    banks.enable_entry(session, entry, actor="t")
    session.commit()
    assert len(_match(matcher, query)) == 1
    _bank(session, "allowed", action="allow")
    allowed = _add(session, "allowed", video)
    found = {m.entry_id: m for m in _match(matcher, query)}
    assert found[entry].suppressed_by == "allowed"
    assert found[allowed].suppressed_by is None
    banks.delete_entry(session, allowed, actor="t")
    banks.delete_entry(session, entry, actor="t")
    session.commit()
    assert _match(matcher, query) == []
    assert len(matcher._indexes["pdq_frame"]) == 0


def test_imported_frame_lists_match_and_export_unchanged(
    session: Session, matcher: MatchService, banked: bytes
) -> None:
    _bank(session)
    frames = list(hash_video(banked).frames)
    first = banks.add_video_frames(
        session, "videos", frames, md5="0" * 32, source="import:partner", actor="t"
    )
    session.commit()
    assert banks.video_frames(session, first[0].id) == frames
    assert first[0].variant == "video" and first[1].hash_type == "md5"
    [match] = _match(matcher, cut(banked, 3.0, 7.0))
    assert match.entry_id == first[0].id


def test_the_state_survives_a_snapshot(
    session: Session, engine: Engine, matcher: MatchService, banked: bytes, tmp_path: Path
) -> None:
    _bank(session)
    entry = _add(session, "videos", hash_video(banked))
    query = cut(banked, 2.0, 6.0)
    expected = _match(matcher, query)
    matcher.save_snapshot(tmp_path)
    loaded = MatchService()
    loaded.start(engine, background=False, snapshot_dir=tmp_path)
    try:
        assert loaded.status()["loaded_from"].startswith("snapshot")
        assert _match(loaded, query) == expected
        assert expected[0].entry_id == entry
    finally:
        loaded.stop()


@pytest.mark.parametrize("query_pct", [0.0, 10.0, 50.0, 80.0, 95.0, 100.0])
def test_sampled_frames_always_include_one_of_any_matching_set(query_pct: float) -> None:
    for count in range(1, 40):
        sample = set(sample_positions(count, query_pct).tolist())
        assert all(0 <= p < count for p in sample)
        smallest_match = max(1, math.ceil(count * query_pct / 100 - 1e-9))
        # Every set of `smallest_match` frames must contain a sampled one: the unsampled ones are fewer.
        assert count - len(sample) < smallest_match
    # And sampling saves work where it can.
    assert len(sample_positions(600, 80.0)) == 121


def test_many_banked_videos_only_the_right_one_matches(session: Session, matcher: MatchService) -> None:
    _bank(session)
    ids = {}
    for seed in range(20, 26):
        ids[seed] = _add(session, "videos", hash_video(clip(seed=seed, seconds=4.0)))
    for seed in itertools.islice(ids, 0, 6, 2):
        assert [m.entry_id for m in _match(matcher, clip(seed=seed, seconds=4.0, codec="vp9"))] == [ids[seed]]
    assert np.unique([m.entry_id for m in _match(matcher, clip(seed=99, seconds=4.0))]).size == 0
