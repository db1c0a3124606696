"""Video hashing: recognition by content, vPDQ-style sampling, collapse, quality, limits and refusal codes,
streaming from a file, keyframe decoding, and the vPDQ text / JSONL forms."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from benchmarks.video_samples import crop_5_percent, logo_corner
from moderation.exceptions import ModerationError
from moderation.hashing.hashers import pdq_of
from moderation.hashing.video import (
    FrameHash,
    InvalidFrameHashes,
    VideoHashOptions,
    VideoLimits,
    frame_variant,
    hash_video,
    parse_frame_lines,
    parse_frame_variant,
    sniff_video,
    spooled,
    to_jsonl,
    to_vpdq_text,
)
from tests.hashing.factories import encode, scene
from tests.hashing.video_factories import audio_only, clip, no_frames, still_video


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def refused(data: bytes, code: str, status: int, **limits: float) -> ModerationError:
    with pytest.raises(ModerationError) as caught:
        hash_video(data, VideoLimits(**limits))  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.status) == (code, status), caught.value.message
    return caught.value


def test_formats_are_recognised_by_content_not_name() -> None:
    assert sniff_video(clip(codec="h264")) == "mp4"
    assert sniff_video(clip(codec="vp9")) == "webm"
    assert sniff_video(clip(codec="gif")) == "gif"
    frames = [scene(seed, (64, 48)) for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=500)
    assert sniff_video(buffer.getvalue()) == "webp"
    # Still images are images, not videos.
    assert sniff_video(encode(frames[0], "GIF")) is None
    assert sniff_video(encode(frames[0], "WEBP")) is None
    assert sniff_video(encode(frames[0], "PNG")) is None
    assert sniff_video(b"\x00" * 64) is None


def test_h264_clip_is_sampled_once_a_second_with_exact_file_hashes() -> None:
    data = clip(seed=1, seconds=4.0)
    video = hash_video(data)
    assert video.sha256 == hashlib.sha256(data).hexdigest()
    assert video.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert (video.format, video.width, video.height) == ("mp4", 160, 120)
    assert video.decoded_frames == 120
    assert [f.timestamp for f in video.frames] == [0.0, 1.0, 2.0, 3.0]
    assert [f.frame for f in video.frames] == [0, 30, 60, 90]
    assert all(f.usable and len(f.pdq) == 64 for f in video.frames)
    # Scenes pan and cut: sampled frames are distinct.
    assert min(distance(a.pdq, b.pdq) for a, b in zip(video.frames, video.frames[1:], strict=False)) > 8
    assert video.typed() == [("sha256", video.sha256), ("md5", video.md5)]


def test_sampling_rate_is_configurable() -> None:
    video = hash_video(clip(seed=1, seconds=4.0), options=VideoHashOptions(frames_per_second=2.0))
    assert [f.timestamp for f in video.frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]


def test_vp9_and_gif_decode_to_the_same_content() -> None:
    h264 = hash_video(clip(seed=2, seconds=3.0, codec="h264"))
    vp9 = hash_video(clip(seed=2, seconds=3.0, codec="vp9"))
    assert vp9.format == "webm"
    assert len(vp9.frames) == len(h264.frames) == 3
    for a, b in zip(h264.frames, vp9.frames, strict=True):
        assert distance(a.pdq, b.pdq) <= 31
    gif = hash_video(clip(seed=2, seconds=3.0, codec="gif"))
    assert (gif.format, gif.decode) == ("gif", "frames")
    assert [f.timestamp for f in gif.frames] == [0.0, 1.0, 2.0]


def test_animated_webp_is_a_video() -> None:
    frames = [scene(seed, (96, 72)) for seed in range(4)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=1000, lossless=True
    )
    video = hash_video(buffer.getvalue())
    assert video.format == "webp"
    assert [f.timestamp for f in video.frames] == [0.0, 1.0, 2.0, 3.0]
    for frame, picture in zip(video.frames, frames, strict=True):
        assert distance(frame.pdq, pdq_of(picture.convert("RGB"))[0]) <= 10


def test_runs_of_near_identical_frames_collapse_into_the_first() -> None:
    data = still_video(seconds=4.0)
    assert [f.timestamp for f in hash_video(data).frames] == [0.0]
    kept = hash_video(data, options=VideoHashOptions(collapse_distance=-1)).frames
    assert [f.timestamp for f in kept] == [0.0, 1.0, 2.0, 3.0]


def test_flat_frames_are_kept_but_not_usable() -> None:
    video = hash_video(still_video(seconds=2.0, colour=(120, 120, 120)))
    assert len(video.frames) == 1
    assert video.frames[0].quality < 50
    assert video.usable_frames == ()


def test_keyframe_decoding_is_chosen_when_keyframes_are_dense_enough() -> None:
    dense = clip(seed=3, seconds=4.0, gop=30)
    sparse = clip(seed=3, seconds=4.0, gop=250)
    assert hash_video(dense).decode == "keyframes"
    assert hash_video(sparse).decode == "all"
    forced = hash_video(dense, options=VideoHashOptions(decode="all"))
    keyed = hash_video(dense)
    assert keyed.decoded_frames == 4 < forced.decoded_frames == 120
    assert [f.timestamp for f in keyed.frames] == [f.timestamp for f in forced.frames]
    assert [f.pdq for f in keyed.frames] == [f.pdq for f in forced.frames]


def test_a_file_is_streamed_from_disk_with_the_same_result(tmp_path: Path) -> None:
    data = clip(seed=4, seconds=3.0)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    assert hash_video(path) == hash_video(data)
    with spooled(io.BytesIO(data), VideoLimits()) as spool:
        assert hash_video(spool).md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    with pytest.raises(ModerationError) as caught, spooled(io.BytesIO(data), VideoLimits(max_bytes=1000)):
        pass
    assert caught.value.code == "video_too_large"


def test_each_limit_breach_has_its_own_code() -> None:
    data = clip(seed=1, seconds=4.0)
    refused(data, "video_too_large", 413, max_bytes=len(data) - 1)
    refused(data, "video_too_long", 413, max_seconds=2.0)
    refused(data, "video_too_many_frames", 413, max_frames_hashed=3)
    refused(data, "video_dimensions_too_large", 413, max_pixels=160 * 120 - 1)
    refused(data, "video_decode_timeout", 422, max_decode_seconds=0.0)
    hash_video(data, VideoLimits(max_bytes=len(data), max_seconds=4.0, max_frames_hashed=4))


def test_broken_files_have_stable_codes() -> None:
    data = clip(seed=1, seconds=4.0)
    refused(data[: len(data) // 2], "truncated_video", 422)
    refused(data[:40] + bytes(range(256)) * 8, "corrupt_video", 422)
    webm = clip(seed=1, seconds=4.0, codec="vp9")
    refused(webm[: len(webm) // 2], "truncated_video", 422)
    refused(audio_only(), "no_video_stream", 422)
    refused(no_frames(), "empty_video", 422)
    refused(b"", "empty_video", 422)
    refused(encode(scene(1), "PNG"), "unsupported_format", 415)


def test_vpdq_text_and_jsonl_round_trip() -> None:
    frames = list(hash_video(clip(seed=1, seconds=3.0)).frames)
    text = to_vpdq_text(frames)
    first = text.splitlines()[0].split(",")
    assert (first[0], first[1], first[3]) == ("0", frames[0].pdq, "0.000")
    assert parse_frame_lines(text.splitlines()) == frames
    assert parse_frame_lines(to_jsonl(frames).splitlines()) == frames
    assert parse_frame_variant(frame_variant(frames[1])) == (30, 1000, frames[1].quality, None)
    assert parse_frame_variant(frame_variant(frames[1], "crop")) == (30, 1000, frames[1].quality, "crop")
    assert parse_frame_variant("crop_left_3") is None


def test_robust_variants_survive_a_crop_and_a_corner_logo() -> None:
    original = hash_video(clip(seed=7, seconds=4.0))
    assert [kind for kind, _ in original.frames[0].variants] == ["crop", "band"]
    cropped = hash_video(crop_5_percent(clip(seed=7, seconds=4.0), 30))
    logo = hash_video(logo_corner(clip(seed=7, seconds=4.0), 30))
    for copy, ours, theirs in ((cropped, "pdq", "crop"), (logo, "band", "band")):
        for a, b in zip(original.frames, copy.frames, strict=True):
            mine = dict(a.variants) | {"pdq": a.pdq}
            other = dict(b.variants) | {"pdq": b.pdq}
            # The copy's own PDQ is near the original's crop variant (and the logo leaves the band).
            assert distance(mine[theirs], other[ours]) <= 31
    without = hash_video(clip(seed=7, seconds=4.0), options=VideoHashOptions(variants=False))
    assert without.frames[0].variants == () and without.frames == original.frames


def test_bad_frame_lines_are_listed_with_their_numbers() -> None:
    good = f"0,{'a' * 64},100,0.000"
    lines = [
        "# exported by vpdq",
        good,
        f"1,{'a' * 63},100,1.000",
        f"2,{'a' * 64},101,2.000",
        f"3,{'a' * 64},90,-1",
        "4,5,6",
        '{"frame": 5, "pdq": "' + "b" * 64 + '", "quality": 80, "timestamp": "nan"}',
        "x" * 5000 + "\x00",
    ]
    with pytest.raises(InvalidFrameHashes) as caught:
        parse_frame_lines(lines)
    assert caught.value.code == "invalid_frame_hashes"
    assert [bad["line"] for bad in caught.value.details["bad_lines"]] == [3, 4, 5, 6, 7, 8]
    with pytest.raises(InvalidFrameHashes):
        parse_frame_lines(["", "# nothing"])
    with pytest.raises(InvalidFrameHashes):
        parse_frame_lines([good] * 4, max_frames=3)
    assert parse_frame_lines([good]) == [FrameHash(0, "a" * 64, 100, 0.0)]
