"""Generated videos (panning scenes, moving shapes, text, grain) and the edits the robustness benchmark
applies to them. Used by tests and benchmarks: never real footage, never people."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from benchmarks.evaluation import generate_image

Codec = str  # "h264" | "vp9" | "gif" | "mpeg4"

_CONTAINERS = {
    "h264": ("mp4", "libx264"),
    "vp9": ("webm", "libvpx-vp9"),
    "gif": ("gif", "gif"),
    "mpeg4": ("mp4", "mpeg4"),
}


@dataclass(frozen=True)
class Clip:
    """What to render: `seed` picks the scenes; a new scene every `scene_seconds`."""

    seed: int
    seconds: float = 4.0
    size: tuple[int, int] = (320, 240)
    fps: int = 30
    scene_seconds: float = 3.0


def frames(clip: Clip) -> Iterator[np.ndarray]:
    """The clip's RGB frames: each scene is a generated picture the camera pans across, with a shape
    moving over it and a caption; scenes cut every `scene_seconds`."""
    width, height = clip.size
    rng = np.random.default_rng(clip.seed)
    total = round(clip.seconds * clip.fps)
    per_scene = max(1, round(clip.scene_seconds * clip.fps))
    scene: np.ndarray | None = None
    grain = rng.integers(-6, 7, size=(height, width, 3), dtype=np.int16)
    for index in range(total):
        if index % per_scene == 0:
            number = index // per_scene
            picture = generate_image(clip.seed * 1009 + number * 7919 + 1)
            scene = np.asarray(
                picture.convert("RGB").resize((width * 3 // 2, height * 3 // 2), Image.Resampling.BILINEAR),
                dtype=np.uint8,
            )
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            direction = rng.choice([-1, 1], size=2)
        assert scene is not None
        step = index % per_scene
        progress = step / per_scene
        x0 = int((width // 2) * (progress if direction[0] > 0 else 1 - progress))
        y0 = int((height // 2) * (progress if direction[1] > 0 else 1 - progress))
        view = Image.fromarray(scene[y0 : y0 + height, x0 : x0 + width])
        draw = ImageDraw.Draw(view)
        cx = int(width * (0.1 + 0.8 * progress))
        cy = int(height * (0.5 + 0.3 * np.sin(progress * 6.28)))
        r = max(4, height // 8)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        draw.text((8, height - 24), f"scene {index // per_scene}", fill=(255, 255, 255))
        pixels = np.asarray(view, dtype=np.int16) + np.roll(grain, index, axis=1)
        yield np.clip(pixels, 0, 255).astype(np.uint8)


def encode(
    pictures: Iterator[np.ndarray] | list[np.ndarray],
    *,
    codec: Codec = "h264",
    fps: float = 30,
    bitrate: int | None = None,
    gop: int | None = None,
    preset: str = "ultrafast",
) -> bytes:
    """Encode RGB frames into an in-memory file (MP4 for H.264/MPEG-4, WebM for VP9, or a GIF)."""
    container_format, codec_name = _CONTAINERS[codec]
    buffer = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(buffer, mode="w", format=container_format) as container:
        stream: av.VideoStream | None = None
        for pixels in pictures:
            if stream is None:
                stream = _video_stream(container, codec, codec_name, rate, pixels.shape, bitrate, gop, preset)
            height, width = stream.height, stream.width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[:height, :width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    return buffer.getvalue()


def _video_stream(
    container: av.container.OutputContainer,
    codec: Codec,
    codec_name: str,
    rate: Fraction,
    shape: tuple[int, ...],
    bitrate: int | None,
    gop: int | None,
    preset: str,
) -> av.VideoStream:
    stream = container.add_stream(codec_name, rate=rate)
    assert isinstance(stream, av.VideoStream)
    stream.height, stream.width = shape[0] // 2 * 2, shape[1] // 2 * 2
    stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
    if bitrate:
        stream.bit_rate = bitrate
    options: dict[str, Any] = {}
    if codec == "h264":
        options["preset"] = preset
    if codec == "vp9":
        options.update({"deadline": "realtime", "cpu-used": "8"})
    if gop:
        options["g"] = str(gop)
    stream.options = options
    return stream


def render(clip: Clip, *, codec: Codec = "h264", **options: object) -> bytes:
    """Render and encode a generated clip."""
    return encode(frames(clip), codec=codec, fps=clip.fps, **options)  # type: ignore[arg-type]


def decode(data: bytes) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, RGB pixels) of every frame of an encoded clip."""
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            yield float(frame.time or 0.0), frame.to_ndarray(format="rgb24")


Edit = Callable[[bytes, float], bytes]


def _transcode(
    data: bytes,
    fps: float,
    *,
    pixels: Callable[[np.ndarray], np.ndarray] = lambda p: p,
    keep: Callable[[float], bool] = lambda t: True,
    out_fps: float | None = None,
    codec: Codec = "h264",
    bitrate: int | None = None,
) -> bytes:
    target = out_fps or fps

    def selected() -> Iterator[np.ndarray]:
        emitted = 0
        first: float | None = None
        for seconds, picture in decode(data):
            if not keep(seconds):
                continue
            first = seconds if first is None else first
            # Resample by time: emit frames until the output clock catches up with this frame.
            while emitted / target <= seconds - first + 1e-6:
                yield pixels(picture)
                emitted += 1

    return encode(selected(), codec=codec, fps=target, bitrate=bitrate)


def duration_of(data: bytes) -> float:
    last = 0.0
    for seconds, _ in decode(data):
        last = seconds
    return last


def reencode_other_codec(data: bytes, fps: float) -> bytes:
    """H.264 -> VP9 at a low bitrate (and VP9 -> H.264)."""
    target = "h264" if data[:4] == b"\x1a\x45\xdf\xa3" else "vp9"
    return _transcode(data, fps, codec=target, bitrate=300_000)


def half_size(data: bytes, fps: float) -> bytes:
    def shrink(p: np.ndarray) -> np.ndarray:
        h, w = p.shape[:2]
        return np.asarray(Image.fromarray(p).resize((w // 2, h // 2), Image.Resampling.BILINEAR))

    return _transcode(data, fps, pixels=shrink)


def crop_5_percent(data: bytes, fps: float) -> bytes:
    def crop(p: np.ndarray) -> np.ndarray:
        h, w = p.shape[:2]
        dy, dx = round(h * 0.025), round(w * 0.025)
        return p[dy : h - dy, dx : w - dx]

    return _transcode(data, fps, pixels=crop)


def frame_rate_24(data: bytes, fps: float) -> bytes:
    return _transcode(data, fps, out_fps=24)


def trim_2s_each_end(data: bytes, fps: float) -> bytes:
    end = duration_of(data)
    return _transcode(data, fps, keep=lambda t: 2.0 <= t <= end - 2.0)


def clip_10s_middle(data: bytes, fps: float) -> bytes:
    middle = duration_of(data) / 2
    return _transcode(data, fps, keep=lambda t: middle - 5.0 <= t < middle + 5.0)


def logo_corner(data: bytes, fps: float) -> bytes:
    def stamp(p: np.ndarray) -> np.ndarray:
        h, w = p.shape[:2]
        out = p.copy()
        lh, lw = h // 6, w // 6
        out[4 : 4 + lh, w - lw - 4 : w - 4] = (240, 240, 240)
        out[4 + lh // 3 : 4 + 2 * lh // 3, w - lw : w - 8] = (200, 30, 30)
        return out

    return _transcode(data, fps, pixels=stamp)


EDITS: dict[str, Edit] = {
    "other_codec": reencode_other_codec,
    "half_size": half_size,
    "crop_5pct": crop_5_percent,
    "fps_24": frame_rate_24,
    "trim_2s_ends": trim_2s_each_end,
    "clip_10s_middle": clip_10s_middle,
    "logo_corner": logo_corner,
}
