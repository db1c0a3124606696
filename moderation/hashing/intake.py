"""Safe image intake: bounded reading, format allow-list, bomb checks and normalisation to upright RGB."""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from moderation.exceptions import (
    CorruptImage,
    EmptyImage,
    ImageDimensionsTooLarge,
    ImageTooLarge,
    ModerationError,
    UnsupportedFormat,
)

if TYPE_CHECKING:
    from moderation.config import Settings

# Pillow plugin names we hand bytes to; MPO is a camera JPEG holding several pictures (we take the first).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF")
_ACCEPTED_OPENED_FORMATS = frozenset({*ALLOWED_FORMATS, "MPO"})

# PDQ's reference implementation downsamples anything larger to 512 px before its own filtering,
# so decoding more pixels than this buys nothing (the conformance test keeps us honest).
HASH_MAX_SIDE = 512

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)

_WHITE = (255, 255, 255, 255)


# Worst-case bytes one decode holds per pixel: a 16-bit RGBA frame (8) plus its float64 greyscale
# or RGBA conversion (8). docs/configuration.md states the bound this gives.
DECODE_BYTES_PER_PIXEL = 16


class DecodeBusy(ModerationError):
    """Every decode slot stayed taken for the whole wait: the server is at its memory bound."""

    code = "decode_busy"
    status = 503


@dataclass(frozen=True)
class ImageLimits:
    """Intake limits. Callers pass their settings' values; nothing here reads global configuration.

    `max_concurrent_decodes` caps decodes in this process for every caller with the same value, so
    decode memory stays under `max_concurrent_decodes * max_pixels * DECODE_BYTES_PER_PIXEL`."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_concurrent_decodes: int = 2
    decode_wait_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageLimits:
        return cls(
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            max_concurrent_decodes=settings.max_concurrent_decodes,
            decode_wait_seconds=settings.decode_wait_seconds,
        )

    @property
    def decode_memory_bound(self) -> int:
        """Bytes that all concurrent decodes together may hold at most."""
        return self.max_concurrent_decodes * self.max_pixels * DECODE_BYTES_PER_PIXEL


_gates: dict[int, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


@contextmanager
def decode_slot(limits: ImageLimits) -> Iterator[None]:
    """Hold one of the process's decode slots (503 `decode_busy` after `decode_wait_seconds`)."""
    with _gates_lock:
        gate = _gates.setdefault(
            limits.max_concurrent_decodes, threading.BoundedSemaphore(max(1, limits.max_concurrent_decodes))
        )
    if not gate.acquire(timeout=limits.decode_wait_seconds):
        raise DecodeBusy(
            "too many images are being decoded; try again shortly",
            details={"max_concurrent_decodes": limits.max_concurrent_decodes},
        )
    try:
        yield
    finally:
        gate.release()


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for hashing: upright (EXIF applied), RGB, at most `HASH_MAX_SIDE` px a side
    unless decoded at full size. `width`/`height` are the stored dimensions from the file header."""

    image: Image.Image
    format: str
    width: int
    height: int

    def array(self) -> np.ndarray:
        """The pixels as an (H, W, 3) uint8 array, the layout `pdqhash` expects."""
        return np.asarray(self.image, dtype=np.uint8)


MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def sniff_format(data: bytes) -> str | None:
    """The allowed format the leading bytes claim to be, if any (used to tell corrupt from unsupported)."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_size(size: int, limits: ImageLimits) -> None:
    """Refuse empty or oversized inputs before anything is read or decoded."""
    if size == 0:
        raise EmptyImage("the image is empty (0 bytes)")
    if size > limits.max_bytes:
        raise ImageTooLarge(
            f"the image is {size} bytes; the limit is {limits.max_bytes}",
            details={"bytes": size, "max_bytes": limits.max_bytes},
        )


def read_limited(stream: BinaryIO, limits: ImageLimits) -> bytes:
    """Read a stream, never holding more than `max_bytes + 1` bytes of it."""
    data = stream.read(limits.max_bytes + 1)
    check_size(len(data), limits)
    return data


def read_image_file(path: str | os.PathLike[str], limits: ImageLimits) -> bytes:
    """Read an image file within the byte limit (the size is checked before reading)."""
    path = Path(path)
    check_size(path.stat().st_size, limits)
    with path.open("rb") as handle:
        return read_limited(handle, limits)


def decode_image(data: bytes, limits: ImageLimits, *, max_side: int | None = HASH_MAX_SIDE) -> DecodedImage:
    """Decode `data` into an upright RGB image of at most `max_side` px a side (None: full size).

    Refusals raise an `ImageRejected` subclass with a stable code: `empty_image`, `image_too_large`,
    `unsupported_format`, `image_dimensions_too_large` (checked from the header, before decoding),
    `corrupt_image`. The pixel limit bounds the memory any decoder can allocate, and the decode
    slots (`decode_slot`) how many decoders run at once.
    """
    check_size(len(data), limits)
    with decode_slot(limits):
        return _decode(data, limits, max_side)


def probe_image(data: bytes, limits: ImageLimits) -> tuple[str, int, int]:
    """Check an image's header only (byte limit, format allow-list, pixel limit) without decoding
    pixels: (format, width, height). Raises the same `ImageRejected` codes as `decode_image`."""
    check_size(len(data), limits)
    im, fmt, width, height = _open_checked(data, limits)
    im.close()
    return fmt, width, height


def _open_checked(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str, int, int]:
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageDimensionsTooLarge(f"image dimensions refused: {exc}") from exc
    except UnidentifiedImageError as exc:
        claimed = sniff_format(data)
        if claimed is not None:
            raise CorruptImage(f"the data starts like {claimed} but cannot be read") from exc
        raise UnsupportedFormat(
            f"not an accepted image format (accepted: {', '.join(ALLOWED_FORMATS)})"
        ) from exc
    except Exception as exc:  # Pillow plugins raise many types on malformed headers
        raise CorruptImage(f"the image header cannot be read: {type(exc).__name__}") from exc

    if im.format not in _ACCEPTED_OPENED_FORMATS:
        raise UnsupportedFormat(f"format {im.format} is not accepted")
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise EmptyImage(f"the image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageDimensionsTooLarge(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {limits.max_pixels}",
            details={"width": width, "height": height, "max_pixels": limits.max_pixels},
        )
    return im, fmt, width, height


def _decode(data: bytes, limits: ImageLimits, max_side: int | None) -> DecodedImage:
    im, fmt, width, height = _open_checked(data, limits)
    try:
        rgb = _load_normalised(im, fmt, max_side)
    except Image.DecompressionBombError as exc:
        raise ImageDimensionsTooLarge(f"image dimensions refused: {exc}") from exc
    except MemoryError as exc:
        raise ImageDimensionsTooLarge("the image needs more memory to decode than is available") from exc
    except (UnsupportedFormat, CorruptImage, EmptyImage):
        raise
    except Exception as exc:  # corrupt data surfaces as many exception types
        raise CorruptImage(f"the image data cannot be decoded: {type(exc).__name__}: {exc}") from exc
    return DecodedImage(image=rgb, format=fmt, width=width, height=height)


def _load_normalised(im: Image.Image, fmt: str, max_side: int | None) -> Image.Image:
    if max_side is not None and fmt == "JPEG":
        target = _fit(im.size, max_side)
        if target is not None:
            # Draft decoding lets libjpeg scale by 1/2, 1/4 or 1/8 while decoding: never below `target`.
            im.draft(None, target)
    im.load()
    if max_side is not None and max(im.size) > max_side:
        if im.mode.startswith("I;16"):
            # Pillow cannot reduce 16-bit modes; 32-bit integer pixels keep the values (4 bytes a pixel).
            im = im.convert("I")
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    rgb = to_rgb(_upright(im))
    if rgb.width <= 0 or rgb.height <= 0:
        raise EmptyImage("the image has no pixels")
    return rgb


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int] | None:
    width, height = size
    if max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _upright(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - an unreadable EXIF block leaves the pixels as stored
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: transparency is flattened onto white (what a viewer shows
    on a light page), 16-bit and float greyscale are scaled into 0-255 instead of clipped."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        return _scaled_grey(im).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _scaled_grey(im: Image.Image) -> Image.Image:
    values = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        peak = float(np.nanmax(values)) if values.size else 0.0
        scale = 255.0 if peak <= 1.0 else 1.0
    elif im.mode.startswith("I;16"):
        scale = 255.0 / 65535.0
    else:
        peak = float(values.max()) if values.size else 0.0
        scale = 1.0 if peak <= 255 else 255.0 / (65535.0 if peak <= 65535 else peak)
    grey = np.clip(np.nan_to_num(values * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L")
