"""Generated test images (shapes, gradients, noise, text) and their encodings."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.evaluation import generate_image


def scene(seed: int = 0, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like generated RGB image, resized to `size`."""
    return generate_image(seed).resize(size, Image.Resampling.LANCZOS)


def asymmetric(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """An image whose rotations and flips all differ (so orientation mistakes show up in PDQ)."""
    width, height = size
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    red = 255 * x * np.ones_like(y)
    green = 255 * (y**2) * np.ones_like(x)
    blue = 128 + 127 * np.sin(6 * x + 3 * y)
    image = Image.fromarray(np.stack([red, green, blue], axis=2).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, width // 3, height // 4), fill=(250, 250, 20))
    draw.ellipse((width // 2, height // 2, width - 15, height - 10), fill=(20, 20, 200))
    draw.text((15, height - 40), "up", fill=(0, 0, 0))
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pinned_image() -> Image.Image:
    """A fixed image built from arithmetic and filled shapes only (no fonts, no randomness), so its
    perceptual hashes depend on nothing but the hashing pipeline."""
    height, width = 240, 360
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 127 + 120 * np.sin(x / 23.0) * np.cos(y / 31.0)
    green = 255 * (x + y) / (width + height)
    blue = 127 + 120 * np.cos((x - 2 * y) / 17.0)
    image = Image.fromarray(np.stack([red, green, blue], axis=2).round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 30, 140, 90), fill=(240, 240, 30))
    draw.ellipse((200, 120, 330, 220), fill=(30, 40, 200))
    draw.polygon([(40, 200), (120, 140), (160, 230)], fill=(200, 30, 60))
    return image
