"""Video intake and vPDQ-compatible frame hashing: recognise by content, decode (streamed), sample, PDQ.

Containers (MP4, MOV, WebM, MKV) are decoded with PyAV, whose wheels carry the FFmpeg libraries; animated
GIF and WebP are read frame by frame with Pillow (FFmpeg has no animated-WebP decoder). Frames are
decoded one at a time and dropped once sampled: only the current frame and the hashes are ever held.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import av
import av.error
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from moderation.exceptions import (
    CorruptVideo,
    EmptyVideo,
    ModerationError,
    NoVideoStream,
    TruncatedVideo,
    UnsupportedFormat,
    VideoDecodeTimeout,
    VideoDimensionsTooLarge,
    VideoTooLarge,
    VideoTooLong,
    VideoTooManyFrames,
)
from moderation.hashing.hashers import pdq_of_array
from moderation.hashing.intake import HASH_MAX_SIDE, to_rgb
from moderation.hashing.types import PDQ, InvalidHash

if TYPE_CHECKING:
    from moderation.config import Settings

VIDEO_FORMATS: tuple[str, ...] = ("mp4", "mov", "webm", "mkv", "gif", "webp")
# Meta's advice for PDQ (and vPDQ): hashes of quality below this are unreliable; kept, never matched.
MIN_FRAME_QUALITY = 50
# An animated image frame without a duration is shown for this long by browsers.
_DEFAULT_FRAME_MS = 100
_QUICKTIME_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_READ_CHUNK = 1 << 20
# Bounds of imported frame hashes (they must fit a bank entry's variant label).
MAX_FRAME_NUMBER = 9_999_999
MAX_TIMESTAMP = 999_999.0
FRAME_VARIANT_PREFIX = "frame:"
MAX_IMPORTED_FRAMES = 10_000
CROP_FRACTION = 0.025
# PDQ distance from the last kept keyframe that counts as a new scene, and the keyframes' size.
SCENE_CHANGE = 64
KEYFRAME_SIDE = 256

DecodeMode = Literal["all", "keyframes", "auto"]
VideoSource = bytes | Path


class InvalidFrameHashes(InvalidHash):
    """A vPDQ text or JSONL frame-hash list that cannot be read; `details` lists the bad lines."""

    code = "invalid_frame_hashes"


@dataclass(frozen=True)
class VideoLimits:
    """Intake limits for videos. Callers pass their settings' values (nothing here reads settings)."""

    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 600.0
    max_frames_hashed: int = 1200
    max_decode_seconds: float = 60.0
    max_pixels: int = 50_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        return cls(
            max_bytes=settings.max_video_bytes,
            max_seconds=settings.max_video_seconds,
            max_frames_hashed=settings.max_video_frames_hashed,
            max_decode_seconds=settings.max_video_decode_seconds,
            max_pixels=settings.max_image_pixels,
        )


@dataclass(frozen=True)
class VideoHashOptions:
    """How frames are sampled: `frames_per_second` (vPDQ: 1), the decode mode, and the PDQ distance
    under which consecutive sampled frames collapse into the first of their run."""

    frames_per_second: float = 1.0
    decode: DecodeMode = "auto"
    collapse_distance: int = 8
    variants: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoHashOptions:
        return cls(
            frames_per_second=settings.video_frames_per_second,
            decode=settings.video_decode,
            collapse_distance=settings.video_collapse_distance,
            variants=settings.video_frame_variants,
        )


@dataclass(frozen=True)
class FrameHash:
    """One sampled frame, as vPDQ describes it: frame number, PDQ hex, quality (0-100), seconds."""

    frame: int
    pdq: str
    quality: int
    timestamp: float
    # Robust variants (kind, PDQ hex), not part of vPDQ: `crop` (2.5% off each side) and `band` (the
    # middle half of the height, which leaves out logos and captions in the corners). Matching compares
    # them too; exports and equality leave them out.
    variants: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def codes(self) -> list[str]:
        """The frame's PDQ followed by its variants' (what the frame index holds for it)."""
        return [self.pdq, *(value for _, value in self.variants)]

    @property
    def usable(self) -> bool:
        """Whether the frame takes part in matching (quality at least `MIN_FRAME_QUALITY`)."""
        return self.quality >= MIN_FRAME_QUALITY


@dataclass(frozen=True)
class VideoHashes:
    """Every hash of one video: the file's SHA-256 and MD5 and its frame hashes in time order."""

    sha256: str
    md5: str
    format: str
    width: int
    height: int
    duration: float
    frames: tuple[FrameHash, ...]
    decoded_frames: int
    decode: Literal["all", "keyframes", "frames"]
    # Up to `keep` frames (seconds, RGB thumbnail) chosen by scene change and spacing, for the
    # classifier and the dashboard's keyframe strip; empty unless asked for.
    keyframes: tuple[tuple[float, Image.Image], ...] = ()

    @property
    def usable_frames(self) -> tuple[FrameHash, ...]:
        return tuple(f for f in self.frames if f.usable)

    def typed(self) -> list[tuple[str, str]]:
        """The exact (type, value) pairs (what NCMEC and StopNCII exchange for video)."""
        return [("sha256", self.sha256), ("md5", self.md5)]


# --- recognition ------------------------------------------------------------------------------------


def sniff_video(head: bytes) -> str | None:
    """The video format the leading bytes (at least 32 of them) claim, or None.

    GIF and WebP count only when animated: a GIF with a second image or a WebP with its animation flag.
    For GIF that needs the whole data, so pass all of it when the data may be a GIF.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if len(head) >= 8 and head[4:8] in _QUICKTIME_BOXES:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] == b"VP8X":
        return "webp" if len(head) > 20 and head[20] & 0x02 else None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif" if _gif_is_animated(head) else None
    return None


def _gif_is_animated(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=("GIF",)) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - an unreadable GIF is not a video; image intake reports it
        return False


def may_be_video(head: bytes) -> bool:
    """Whether leading bytes could start a video (GIF and WebP: possibly animated), so an upload
    reader can allow it the video byte limit before the whole file has arrived."""
    if head[:6] in (b"GIF87a", b"GIF89a") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    return sniff_video(head) is not None


def is_video(data: bytes) -> bool:
    """Whether `data` is a video this module decodes (recognised by content, never by name)."""
    return sniff_video(data) is not None


def sniff_video_file(path: Path) -> str | None:
    """`sniff_video` for a file: the head, or the whole file when it is a GIF."""
    with Path(path).open("rb") as handle:
        head = handle.read(64)
        if head[:3] == b"GIF":
            handle.seek(0)
            head = handle.read(_READ_CHUNK * 64)
    return sniff_video(head)


# --- exact hashes -----------------------------------------------------------------------------------


def _file_digests(source: VideoSource, limits: VideoLimits) -> tuple[str, str, int]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    if isinstance(source, bytes):
        _check_bytes(len(source), limits)
        sha.update(source)
        md5.update(source)
        return sha.hexdigest(), md5.hexdigest(), len(source)
    size = os.stat(source).st_size
    _check_bytes(size, limits)
    with Path(source).open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def _check_bytes(size: int, limits: VideoLimits) -> None:
    if size == 0:
        raise EmptyVideo("the video is empty (0 bytes)")
    if size > limits.max_bytes:
        raise VideoTooLarge(
            f"the video is {size} bytes; the limit is {limits.max_bytes}",
            details={"bytes": size, "max_bytes": limits.max_bytes},
        )


# --- frame hashing ----------------------------------------------------------------------------------


def hash_video(
    source: VideoSource,
    limits: VideoLimits | None = None,
    options: VideoHashOptions | None = None,
    *,
    keep: int = 0,
) -> VideoHashes:
    """Hash a video (bytes, or a file path so the file is streamed from disk).

    Refusals raise a `VideoRejected` subclass with a stable code: `video_too_large`, `video_too_long`,
    `video_too_many_frames`, `video_dimensions_too_large`, `video_decode_timeout`, `corrupt_video`,
    `truncated_video`, `empty_video`, `no_video_stream`; data that is no video at all raises
    `unsupported_format`.
    """
    limits = limits or VideoLimits()
    options = options or VideoHashOptions()
    sha256, md5, _size = _file_digests(source, limits)
    fmt = sniff_video(source) if isinstance(source, bytes) else sniff_video_file(source)
    if fmt is None:
        raise UnsupportedFormat(f"not an accepted video format (accepted: {', '.join(VIDEO_FORMATS)})")
    sampler = _Sampler(limits, options, keep)
    if fmt in ("gif", "webp"):
        width, height, duration = _decode_animated(source, sampler)
        decode: Literal["all", "keyframes", "frames"] = "frames"
    else:
        width, height, duration, keyframes_only = _decode_container(source, sampler, options)
        decode = "keyframes" if keyframes_only else "all"
    if sampler.decoded == 0:
        raise EmptyVideo("the video has no decodable frame")
    return VideoHashes(
        sha256=sha256,
        md5=md5,
        format=fmt,
        width=width,
        height=height,
        duration=round(max(duration, sampler.last_time), 3),
        frames=tuple(sampler.frames),
        decoded_frames=sampler.decoded,
        decode=decode,
        keyframes=sampler.chosen_keyframes(),
    )


class _Sampler:
    """Keeps one frame per sampling interval, enforcing the time, length and count limits as it goes."""

    def __init__(self, limits: VideoLimits, options: VideoHashOptions, keep: int = 0) -> None:
        if not options.frames_per_second > 0:
            raise ValueError("frames_per_second must be positive")
        self.limits = limits
        self.interval = 1.0 / options.frames_per_second
        self.collapse = options.collapse_distance
        self.variants = options.variants
        self.started = time.monotonic()
        self.next_time = 0.0
        self.decoded = 0
        self.sampled = 0
        self.last_time = 0.0
        self.frames: list[FrameHash] = []
        self._last_code: int | None = None
        self.keep = keep
        self._keyframes: list[tuple[float, Image.Image]] = []
        self._last_kept_code: int | None = None

    def tick(self) -> None:
        if time.monotonic() - self.started > self.limits.max_decode_seconds:
            raise VideoDecodeTimeout(
                f"decoding took longer than {self.limits.max_decode_seconds:g} s",
                details={"max_decode_seconds": self.limits.max_decode_seconds},
            )

    def wants(self, seconds: float) -> bool:
        """Count a decoded frame at `seconds`; True when it is the next one to hash."""
        self.tick()
        self.decoded += 1
        if seconds > self.limits.max_seconds:
            raise VideoTooLong(
                f"the video runs past {self.limits.max_seconds:g} s",
                details={"max_seconds": self.limits.max_seconds},
            )
        self.last_time = max(self.last_time, seconds)
        return seconds + 1e-6 >= self.next_time

    def add(self, frame_number: int, seconds: float, pixels: np.ndarray) -> None:
        self.sampled += 1
        if self.sampled > self.limits.max_frames_hashed:
            raise VideoTooManyFrames(
                f"more than {self.limits.max_frames_hashed} frames to hash",
                details={"max_frames_hashed": self.limits.max_frames_hashed},
            )
        self.next_time = (math.floor(seconds / self.interval + 1e-6) + 1) * self.interval
        pdq, quality = pdq_of_array(pixels)
        code = int(pdq, 16)
        if self.keep:
            self._consider_keyframe(seconds, code, pixels)
        if self._last_code is not None and (code ^ self._last_code).bit_count() <= self.collapse:
            return
        self._last_code = code
        variants = frame_variants(pixels) if self.variants else ()
        self.frames.append(FrameHash(frame_number, pdq, quality, round(seconds, 3), variants))

    def _consider_keyframe(self, seconds: float, code: int, pixels: np.ndarray) -> None:
        """Keep the frames where the scene changes (PDQ far from the last kept one); when there are
        more than twice `keep`, drop every other one, which keeps them spread over the whole video."""
        if self._last_kept_code is not None and (code ^ self._last_kept_code).bit_count() < SCENE_CHANGE:
            return
        self._last_kept_code = code
        thumbnail = Image.fromarray(pixels)
        thumbnail.thumbnail((KEYFRAME_SIDE, KEYFRAME_SIDE), Image.Resampling.BILINEAR)
        self._keyframes.append((round(seconds, 3), thumbnail))
        if len(self._keyframes) > 2 * self.keep:
            self._keyframes = self._keyframes[::2]

    def chosen_keyframes(self) -> tuple[tuple[float, Image.Image], ...]:
        chosen = self._keyframes
        if len(chosen) > self.keep:
            positions = np.unique(np.round(np.linspace(0, len(chosen) - 1, self.keep)).astype(int))
            chosen = [chosen[p] for p in positions]
        return tuple(chosen)


def _hash_size(width: int, height: int) -> tuple[int, int]:
    """The frame size handed to PDQ: at most `HASH_MAX_SIDE` a side (PDQ downsamples to that anyway)."""
    scale = min(1.0, HASH_MAX_SIDE / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_pixels(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_pixels:
        raise VideoDimensionsTooLarge(
            f"frames are {width}x{height}; the limit is {limits.max_pixels} pixels",
            details={"width": width, "height": height, "max_pixels": limits.max_pixels},
        )


def _open(source: VideoSource) -> av.container.InputContainer:
    target: str | BinaryIO = str(source) if isinstance(source, Path) else io.BytesIO(source)
    try:
        return av.open(target, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, av.error.EOFError) or _boxes_truncated(source):
            raise TruncatedVideo("the video data ends before the container says it should") from exc
        raise CorruptVideo(f"the video cannot be opened: {type(exc).__name__}: {exc}") from exc


def _boxes_truncated(source: VideoSource) -> bool:
    """Whether an MP4/MOV's top-level boxes run past the end of the data, or end without the `moov`
    index (what a partial upload of a file written index-last looks like)."""
    with io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb") as handle:
        total = handle.seek(0, io.SEEK_END)
        offset, seen_moov = 0, False
        while offset + 8 <= total:
            handle.seek(offset)
            header = handle.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if not kind.isascii() or not kind.decode("ascii").isprintable():
                return False
            if size == 1 and len(header) == 16:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = total - offset
            if size < 8:
                return False
            seen_moov = seen_moov or kind == b"moov"
            if offset + size > total:
                return True
            offset += size
        return offset > 0 and not seen_moov


def _decode_container(
    source: VideoSource, sampler: _Sampler, options: VideoHashOptions
) -> tuple[int, int, float, bool]:
    keyframes_only = options.decode == "keyframes"
    if options.decode == "auto":
        keyframes_only = _keyframes_dense_enough(source, sampler)
    with _open(source) as container:
        if not container.streams.video:
            if not container.streams.audio:
                raise EmptyVideo("the container holds no stream with a frame")
            raise NoVideoStream("the file holds audio but no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_pixels(width, height, sampler.limits)
        declared = _declared_seconds(container, stream)
        if declared > sampler.limits.max_seconds:
            raise VideoTooLong(
                f"the video is {declared:.1f} s; the limit is {sampler.limits.max_seconds:g} s",
                details={"seconds": round(declared, 3), "max_seconds": sampler.limits.max_seconds},
            )
        stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        size = _hash_size(width, height) if width and height else None
        index = 0
        try:
            for frame in _frames(container, stream):
                seconds = float(frame.time) if frame.time is not None else index / (rate or 1.0)
                number = round(seconds * rate) if rate else index
                index += 1
                if not sampler.wants(max(seconds, 0.0)):
                    continue
                w, h = size or _hash_size(frame.width, frame.height)
                pixels = frame.to_ndarray(format="rgb24", width=w, height=h)
                sampler.add(number, max(seconds, 0.0), pixels)
        except (av.error.FFmpegError, ValueError) as exc:
            if sampler.decoded == 0:
                raise CorruptVideo(f"the video data cannot be decoded: {exc}") from exc
            raise TruncatedVideo(f"the video data breaks off after {sampler.last_time:.1f} s") from exc
        stopped_early = sampler.last_time < declared * 0.9 - 1.0
        if sampler.decoded and declared > 2.0 and stopped_early and not keyframes_only:
            raise TruncatedVideo(
                f"the video stops at {sampler.last_time:.1f} s of the {declared:.1f} s it declares",
                details={"declared_seconds": round(declared, 3), "decoded_seconds": sampler.last_time},
            )
    return width, height, declared, keyframes_only


def _frames(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame):
                yield frame


def _declared_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _keyframes_dense_enough(source: VideoSource, sampler: _Sampler) -> bool:
    """Whether keyframes alone give a frame per sampling interval (demuxes packets, decodes nothing)."""
    try:
        with _open(source) as container:
            if not container.streams.video:
                return False
            stream = container.streams.video[0]
            times = []
            for packet in container.demux(stream):
                sampler.tick()
                if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                    times.append(float(packet.pts * packet.time_base))
                if len(times) > 4096:
                    break
    except (CorruptVideo, TruncatedVideo, av.error.FFmpegError):
        return False
    if len(times) < 3:
        return False
    gaps = np.diff(np.sort(np.asarray(times)))
    return bool(gaps.max() <= sampler.interval * 1.01)


def _decode_animated(source: VideoSource, sampler: _Sampler) -> tuple[int, int, float]:
    data: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")  # noqa: SIM115
    try:
        with Image.open(data, formats=("GIF", "WEBP")) as im:
            width, height = im.size
            _check_pixels(width, height, sampler.limits)
            seconds = 0.0
            for number, frame in enumerate(ImageSequence.Iterator(im)):
                frame.load()  # WebP sets the frame's duration when it is loaded
                duration_ms = frame.info.get("duration") or _DEFAULT_FRAME_MS
                if sampler.wants(seconds):
                    rgb = to_rgb(frame.convert("RGBA"))
                    rgb.thumbnail((HASH_MAX_SIDE, HASH_MAX_SIDE), Image.Resampling.BILINEAR)
                    sampler.add(number, seconds, np.asarray(rgb, dtype=np.uint8))
                seconds += duration_ms / 1000.0
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise CorruptVideo(f"the animated image cannot be read: {exc}") from exc
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        if sampler.decoded == 0:
            raise CorruptVideo(f"the animated image cannot be read: {type(exc).__name__}") from exc
        raise TruncatedVideo(f"the animated image breaks off after {sampler.last_time:.1f} s") from exc
    finally:
        data.close()
    return width, height, seconds


# --- vPDQ text and JSONL ----------------------------------------------------------------------------


def frames_digest(frames: tuple[FrameHash, ...] | list[FrameHash]) -> str:
    """SHA-256 of the frame list in vPDQ text form: the identity of a video known only by its hashes."""
    return hashlib.sha256(to_vpdq_text(frames).encode()).hexdigest()


def to_vpdq_text(frames: tuple[FrameHash, ...] | list[FrameHash]) -> str:
    """vPDQ's text form: one `frame_number,pdq_hex,quality,timestamp` line per frame (3 decimals)."""
    return "".join(f"{f.frame},{f.pdq},{f.quality},{f.timestamp:.3f}\n" for f in frames)


def parse_frame(frame: object, pdq: object, quality: object, timestamp: object) -> FrameHash:
    """Validate one frame hash from any source (text line, JSON object); raises `ValueError`."""
    if isinstance(frame, bool) or isinstance(quality, bool):
        raise ValueError("frame and quality must be integers")
    number = int(str(frame).strip()) if isinstance(frame, str | int) else None
    score = int(str(quality).strip()) if isinstance(quality, str | int) else None
    if number is None or not 0 <= number <= MAX_FRAME_NUMBER:
        raise ValueError(f"frame must be an integer from 0 to {MAX_FRAME_NUMBER}")
    if score is None or not 0 <= score <= 100:
        raise ValueError("quality must be an integer from 0 to 100")
    if not isinstance(timestamp, str | int | float) or isinstance(timestamp, bool):
        raise ValueError("timestamp must be a number")
    seconds = float(timestamp)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp must be from 0 to {MAX_TIMESTAMP:g} seconds")
    if not isinstance(pdq, str):
        raise ValueError("pdq must be a hex string")
    return FrameHash(number, PDQ.parse(pdq), score, round(seconds, 3))


def parse_vpdq_line(line: str) -> FrameHash:
    """One line of vPDQ text; raises `ValueError` (or `InvalidHash`) when it is not one."""
    parts = line.strip().split(",")
    if len(parts) != 4:
        raise ValueError("expected 4 comma-separated fields: frame,pdq,quality,timestamp")
    return parse_frame(*parts)


def frame_variants(pixels: np.ndarray) -> tuple[tuple[str, str], ...]:
    """PDQ of the frame's robust variants: `crop` (2.5% off each side: a cropped copy, or the original
    when the other side is the cropped one) and `band` (rows from 1/4 to 3/4 of the height: corner logos
    and captions fall outside it)."""
    height, width = pixels.shape[:2]
    dy, dx = round(height * CROP_FRACTION), round(width * CROP_FRACTION)
    out = []
    if height - 2 * dy >= 8 and width - 2 * dx >= 8:
        out.append(("crop", pdq_of_array(pixels[dy : height - dy, dx : width - dx])[0]))
    if height >= 16:
        out.append(("band", pdq_of_array(pixels[height // 4 : height - height // 4])[0]))
    return tuple(out)


def frame_variant(frame: FrameHash, kind: str | None = None) -> str:
    """The bank-entry variant label of a video's frame row: `frame:<number>:<milliseconds>:<quality>`,
    with `:<kind>` for a robust variant's row."""
    label = f"{FRAME_VARIANT_PREFIX}{frame.frame}:{round(frame.timestamp * 1000)}:{frame.quality}"
    return label if kind is None else f"{label}:{kind}"


def parse_frame_variant(variant: str) -> tuple[int, int, int, str | None] | None:
    """(frame number, milliseconds, quality, variant kind or None) of a frame row's label; None for
    other labels."""
    if not variant.startswith(FRAME_VARIANT_PREFIX):
        return None
    number, millis, quality, *kind = variant[len(FRAME_VARIANT_PREFIX) :].split(":")
    return int(number), int(millis), int(quality), kind[0] if kind else None


def to_jsonl(frames: tuple[FrameHash, ...] | list[FrameHash]) -> str:
    """One JSON object per frame: `{"frame": ..., "pdq": ..., "quality": ..., "timestamp": ...}`."""
    return "".join(
        json.dumps({"frame": f.frame, "pdq": f.pdq, "quality": f.quality, "timestamp": f.timestamp}) + "\n"
        for f in frames
    )


def parse_frame_lines(lines: Iterable[str], *, max_frames: int = MAX_IMPORTED_FRAMES) -> list[FrameHash]:
    """Frame hashes from vPDQ text or JSONL lines (told apart per line; blank and `#` lines skipped).

    Raises `InvalidFrameHashes` listing the bad lines (line number and reason), so nothing half-valid is
    kept; frames are returned in timestamp order."""
    frames: list[FrameHash] = []
    bad: list[dict[str, object]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(frames) >= max_frames:
            raise InvalidFrameHashes(
                f"more than {max_frames} frame hashes", details={"max_frames": max_frames}
            )
        try:
            if line.startswith("{"):
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
                frames.append(
                    parse_frame(
                        item.get("frame"), item.get("pdq"), item.get("quality"), item.get("timestamp")
                    )
                )
            else:
                frames.append(parse_vpdq_line(line))
        except (ValueError, ModerationError) as exc:
            reason = exc.message if isinstance(exc, ModerationError) else str(exc)
            bad.append({"line": number, "reason": reason[:200]})
            if len(bad) >= 20:
                break
    if bad:
        raise InvalidFrameHashes(f"{len(bad)} bad frame hash line(s)", details={"bad_lines": bad})
    if not frames:
        raise InvalidFrameHashes("no frame hashes given")
    return sorted(frames, key=lambda f: (f.timestamp, f.frame))


def read_video_file(path: Path, limits: VideoLimits) -> bytes:
    """Read a video file within the byte limit (the size is checked before reading)."""
    _check_bytes(os.stat(path).st_size, limits)
    with Path(path).open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    _check_bytes(len(data), limits)
    return data


@contextmanager
def spooled(stream: BinaryIO, limits: VideoLimits) -> Iterator[Path]:
    """Copy an upload to a temporary file, refusing it past `max_bytes`, so it is decoded from disk."""
    with tempfile.TemporaryDirectory(prefix="moderation-video-") as directory:
        path = Path(directory) / "upload"
        size = 0
        with path.open("wb") as handle:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > limits.max_bytes:
                    _check_bytes(size, limits)
                handle.write(chunk)
        _check_bytes(size, limits)
        yield path
