"""Benign reference images: scikit-image's sample photographs (no people), crops of them, and
generated scenes. Used to measure the explicit-content model's false-positive rate (tests and
benchmarks/explicit_model.py); nothing here depicts a person."""

from __future__ import annotations

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

# Sample images without people (astronaut, camera and the face sets are left out on purpose).
SAMPLE_PHOTOS = (
    "brick", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse",
    "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket",
    "text", "cell", "logo",
)  # fmt: skip


def _to_image(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        array = (255 * (array.astype(np.float64) / max(1.0, float(array.max())))).astype(np.uint8)
    image = Image.fromarray(array)
    return image.convert("RGB")


def sample_photos() -> list[tuple[str, Image.Image]]:
    """Each sample photograph, whole and as five crops (four corners, centre) at 60% of its size."""
    out = []
    for name in SAMPLE_PHOTOS:
        image = _to_image(getattr(skimage.data, name)())
        out.append((name, image))
        w, h = image.size
        cw, ch = int(w * 0.6), int(h * 0.6)
        boxes = {
            "nw": (0, 0),
            "ne": (w - cw, 0),
            "sw": (0, h - ch),
            "se": (w - cw, h - ch),
            "centre": ((w - cw) // 2, (h - ch) // 2),
        }
        for label, (x, y) in boxes.items():
            out.append((f"{name}-{label}", image.crop((x, y, x + cw, y + ch))))
    return out


def generated_scenes(count: int = 40, seed: int = 7) -> list[tuple[str, Image.Image]]:
    """Landscapes, rooms and abstract pictures drawn from shapes, gradients, noise and text."""
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        w, h = 320 + 16 * (index % 5), 240 + 16 * (index % 3)
        kind = index % 4
        sky = rng.integers(60, 200, 3)
        ground = rng.integers(20, 160, 3)
        y = np.linspace(0, 1, h)[:, None, None]
        base = (sky * (1 - y) + ground * y) * np.ones((h, w, 3))
        image = Image.fromarray(base.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        if kind == 0:  # landscape: sun, hills, trees
            draw.ellipse((w - 90, 20, w - 30, 80), fill=(250, 220, 90))
            for _ in range(4):
                x = int(rng.integers(0, w))
                draw.polygon(
                    [(x - 80, h), (x, int(h * 0.45)), (x + 80, h)],
                    fill=tuple(int(v) for v in rng.integers(30, 120, 3)),
                )
        elif kind == 1:  # a house
            draw.rectangle((w // 3, h // 2, 2 * w // 3, h - 20), fill=(180, 60, 50))
            draw.polygon(
                [(w // 3 - 20, h // 2), (w // 2, h // 4), (2 * w // 3 + 20, h // 2)], fill=(90, 40, 30)
            )
            draw.rectangle((w // 2 - 15, h - 70, w // 2 + 15, h - 20), fill=(70, 50, 30))
        elif kind == 2:  # abstract shapes and noise
            noise = rng.integers(0, 60, (h, w, 3))
            image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
            draw = ImageDraw.Draw(image)
            for _ in range(8):
                x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
                draw.rectangle(
                    (x0, y0, x0 + 40, y0 + 30),
                    outline=tuple(int(v) for v in rng.integers(0, 255, 3)),
                    width=3,
                )
        else:  # a page of text
            image = Image.new("RGB", (w, h), (245, 245, 235))
            draw = ImageDraw.Draw(image)
            for line in range(8):
                draw.text((12, 12 + 26 * line), f"Line {line} of generated scene {index}", fill=(20, 20, 20))
        out.append((f"generated-{index}", image))
    return out


def benign_images() -> list[tuple[str, Image.Image]]:
    """154 benign images: 19 sample photographs, 95 crops of them, 40 generated scenes."""
    return sample_photos() + generated_scenes()
