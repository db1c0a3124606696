"""Generated test videos (panning scenes, moving shapes, text, grain; H.264, VP9, GIF), cached per run."""

from __future__ import annotations

import functools
import io

import av
import numpy as np

from benchmarks.video_samples import Clip, decode, encode, render


@functools.lru_cache(maxsize=32)
def clip(
    seed: int = 1, seconds: float = 4.0, codec: str = "h264", fps: int = 30, gop: int | None = None
) -> bytes:
    """A small generated clip (160x120 unless it is a GIF, which is smaller still)."""
    size = (96, 72) if codec == "gif" else (160, 120)
    rate = 10 if codec == "gif" else fps
    return render(Clip(seed=seed, seconds=seconds, size=size, fps=rate), codec=codec, gop=gop)


def still_video(seconds: float = 4.0, colour: tuple[int, int, int] | None = None, seed: int = 5) -> bytes:
    """A video of one unchanging picture (or a flat colour): every sampled frame is the same."""
    if colour is None:
        picture = next(iter(_first_frames(clip(seed=seed, seconds=1.0), 1)))
    else:
        picture = np.full((120, 160, 3), colour, dtype=np.uint8)
    return encode([picture] * round(seconds * 10), codec="h264", fps=10)


def _first_frames(data: bytes, count: int) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), mode="r") as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
    return out


def audio_only() -> bytes:
    """An MP4 holding one second of a sine tone and no video stream."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=22050)
        assert isinstance(stream, av.AudioStream)
        samples = (np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 0.3).astype(np.float32)
        for start in range(0, samples.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 22050
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def no_frames() -> bytes:
    """An MP4 whose header declares an H.264 video track that holds not a single frame."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return buffer.getvalue()


def cut(data: bytes, start: float, end: float) -> bytes:
    """The frames in [start, end) of a clip, re-encoded (a clip cut from a video)."""
    return encode([p for t, p in decode(data) if start <= t < end], codec="h264", fps=30)


def concat(*parts: bytes) -> bytes:
    """Clips played one after the other, re-encoded."""
    return encode([p for data in parts for _, p in decode(data)], codec="h264", fps=30)


def frame_at(data: bytes, seconds: float) -> np.ndarray:
    """The first frame at or after `seconds`."""
    return next(p for t, p in decode(data) if t >= seconds - 1e-6)
