"""Stay-down evaluation: generated photo-like images, re-uploaders' edits, recall and false matches."""

from __future__ import annotations

import io
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import (
    PLAIN,
    QueryHashes,
    VariantHash,
    bank_variants,
    match_query,
    query_hashes,
)
from moderation.hashing.types import PDQ_DEFAULT_THRESHOLD

_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (800, 600), (480, 640), (720, 540), (600, 600), (900, 600))
_WORDS = ("sale", "river", "north", "42", "open", "cafe", "blue", "zone", "metro", "2026", "exit", "delta")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def generate_image(seed: int) -> Image.Image:
    """A deterministic photo-like RGB image: smooth lighting, textured regions, shapes, text and grain.

    Each seed draws its own layout, palette and texture scales, so distinct seeds are not near-duplicates.
    """
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    width, height = _SIZES[seed % len(_SIZES)]

    def smooth_field(cells: int, channels: int) -> np.ndarray:
        coarse = rng.integers(0, 256, size=(cells, max(2, cells * width // height), channels), dtype=np.uint8)
        mode = "RGB" if channels == 3 else "L"
        small = Image.fromarray(coarse if channels == 3 else coarse[:, :, 0], mode=mode)
        return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)

    base = smooth_field(int(rng.integers(2, 5)), 3)
    texture = smooth_field(int(rng.integers(8, 40)), 1)[..., None] - 128.0
    image = np.clip(base + texture * rng.uniform(0.2, 0.7), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(image, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(4, 12))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(-width // 4, width)), int(rng.integers(-height // 4, height))
        w, h = int(rng.integers(width // 12, width // 2)), int(rng.integers(height // 12, height // 2))
        kind = pyrng.choice(("ellipse", "rect", "poly"))
        if kind == "ellipse":
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        elif kind == "rect":
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        else:
            points = [(x0 + int(rng.integers(0, w)), y0 + int(rng.integers(0, h))) for _ in range(5)]
            draw.polygon(points, fill=colour)
    for _ in range(int(rng.integers(0, 3))):
        text = " ".join(pyrng.choice(_WORDS) for _ in range(pyrng.randint(1, 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.text(
            (int(rng.integers(0, width // 2)), int(rng.integers(0, height - 40))),
            text,
            fill=colour,
            font=_font(int(rng.integers(18, 48))),
        )
    canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    grain = rng.normal(0, rng.uniform(2, 8), size=(height, width, 1))
    pixels = np.clip(np.asarray(canvas, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


# --- the edits re-uploaders make ------------------------------------------------------------------


def _resize(scale: float) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        size = (max(8, round(im.width * scale)), max(8, round(im.height * scale)))
        return im.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)

    return apply


def _crop(fraction: float, side: str) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        dx, dy = round(im.width * fraction), round(im.height * fraction)
        left, top, right, bottom = 0, 0, im.width, im.height
        if side in ("left", "all"):
            left = dx
        if side in ("right", "all"):
            right = im.width - dx
        if side in ("top", "all"):
            top = dy
        if side in ("bottom", "all"):
            bottom = im.height - dy
        return im.crop((left, top, right, bottom))

    return apply


def _corner(fraction_x: float, fraction_y: float, corner: str) -> Callable[[Image.Image], Image.Image]:
    """Crop two adjacent sides: `fraction_x` of the width, `fraction_y` of the height, off `corner`."""
    vertical, horizontal = corner.split("_")

    def apply(im: Image.Image) -> Image.Image:
        dx, dy = round(im.width * fraction_x), round(im.height * fraction_y)
        left = dx if horizontal == "left" else 0
        right = im.width - (dx if horizontal == "right" else 0)
        top = dy if vertical == "top" else 0
        bottom = im.height - (dy if vertical == "bottom" else 0)
        return im.crop((left, top, right, bottom))

    return apply


_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def _border(fraction: float, colour: tuple[int, int, int]) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        pad = max(1, round(max(im.size) * fraction))
        out = Image.new("RGB", (im.width + 2 * pad, im.height + 2 * pad), colour)
        out.paste(im, (pad, pad))
        return out

    return apply


def _caption(where: str) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        bar = max(24, round(im.height * 0.14))
        out = Image.new("RGB", (im.width, im.height + bar), (255, 255, 255))
        out.paste(im, (0, bar if where == "top" else 0))
        draw = ImageDraw.Draw(out)
        centre_y = bar // 2 if where == "top" else im.height + bar // 2
        text = "when the " + string.ascii_uppercase[:8]
        draw.text((im.width // 2, centre_y), text, fill=(0, 0, 0), font=_font(bar * 6 // 10), anchor="mm")
        return out

    return apply


def _enhance(kind: str, factor: float) -> Callable[[Image.Image], Image.Image]:
    enhancers = {
        "brightness": ImageEnhance.Brightness,
        "contrast": ImageEnhance.Contrast,
        "saturation": ImageEnhance.Color,
    }

    def apply(im: Image.Image) -> Image.Image:
        return enhancers[kind](im).enhance(factor)

    return apply


def _hue(shift: int) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        hsv = np.asarray(im.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        return Image.fromarray(hsv, mode="HSV").convert("RGB")

    return apply


def _transpose(method: Image.Transpose) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        return im.transpose(method)

    return apply


@dataclass(frozen=True)
class Transformation:
    name: str
    apply: Callable[[Image.Image], Image.Image]
    jpeg_quality: int = 90
    needs_rotations: bool = False


TRANSFORMATIONS: tuple[Transformation, ...] = (
    Transformation("jpeg_q90", lambda im: im, 90),
    Transformation("jpeg_q70", lambda im: im, 70),
    Transformation("jpeg_q50", lambda im: im, 50),
    Transformation("jpeg_q30", lambda im: im, 30),
    Transformation("resize_0.5", _resize(0.5)),
    Transformation("resize_0.75", _resize(0.75)),
    Transformation("resize_1.5", _resize(1.5)),
    Transformation("crop_2pc_left", _crop(0.02, "left")),
    Transformation("crop_5pc_top", _crop(0.05, "top")),
    Transformation("crop_3pc_right", _crop(0.03, "right")),
    Transformation("crop_5pc_bottom", _crop(0.05, "bottom")),
    Transformation("crop_2pc_all", _crop(0.02, "all")),
    Transformation("crop_5pc_all", _crop(0.05, "all")),
    *(
        Transformation(f"corner_{pc}pc_{corner}", _corner(pc / 100, pc / 100, corner))
        for pc in (2, 3, 5)
        for corner in _CORNERS
    ),
    Transformation("corner_2pc_left_4pc_top", _corner(0.02, 0.04, "top_left")),
    Transformation("border_thin_white", _border(0.015, (255, 255, 255))),
    Transformation("border_thin_black", _border(0.015, (0, 0, 0))),
    Transformation("border_thick_white", _border(0.10, (255, 255, 255))),
    Transformation("border_thick_black", _border(0.10, (0, 0, 0))),
    Transformation("border_thick_red", _border(0.08, (200, 30, 40))),
    Transformation("caption_top", _caption("top")),
    Transformation("caption_bottom", _caption("bottom")),
    Transformation("brightness_+25pc", _enhance("brightness", 1.25)),
    Transformation("brightness_-25pc", _enhance("brightness", 0.75)),
    Transformation("contrast_+40pc", _enhance("contrast", 1.4)),
    Transformation("saturation_x0", _enhance("saturation", 0.0)),
    Transformation("saturation_+60pc", _enhance("saturation", 1.6)),
    Transformation("hue_shift", _hue(40)),
    Transformation("mirror", _transpose(Image.Transpose.FLIP_LEFT_RIGHT), needs_rotations=True),
    Transformation("rotate_90", _transpose(Image.Transpose.ROTATE_90), needs_rotations=True),
    Transformation("rotate_180", _transpose(Image.Transpose.ROTATE_180), needs_rotations=True),
    Transformation("rotate_270", _transpose(Image.Transpose.ROTATE_270), needs_rotations=True),
)


# --- the evaluation ---------------------------------------------------------------------------------


@dataclass
class TransformResult:
    name: str
    trials: int = 0
    matched_robust: int = 0
    matched_plain: int = 0
    plain_distances: list[int] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.matched_robust / self.trials if self.trials else 0.0

    @property
    def plain_recall(self) -> float:
        return self.matched_plain / self.trials if self.trials else 0.0


@dataclass
class EvaluationReport:
    originals: int
    distinct: int
    variants_per_entry: float
    per_transform: list[TransformResult]
    false_match_pairs: int
    false_match_queries: int
    distinct_pairs: int
    plain_false_match_pairs: int
    min_distinct_distance: int
    min_distinct_variant_distance: int

    @property
    def recall(self) -> float:
        trials = sum(r.trials for r in self.per_transform)
        return sum(r.matched_robust for r in self.per_transform) / trials if trials else 0.0

    @property
    def plain_recall(self) -> float:
        trials = sum(r.trials for r in self.per_transform)
        return sum(r.matched_plain for r in self.per_transform) / trials if trials else 0.0

    def table(self) -> str:
        lines = [
            "| transformation | trials | plain PDQ<=31 | robust | plain distance median / max |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in self.per_transform:
            median = int(np.median(r.plain_distances)) if r.plain_distances else 0
            worst = max(r.plain_distances, default=0)
            lines.append(
                f"| {r.name} | {r.trials} | {r.plain_recall:.1%} | {r.recall:.1%} | {median} / {worst} |"
            )
        lines.append(
            f"| **all** | {sum(r.trials for r in self.per_transform)} | {self.plain_recall:.1%} "
            f"| {self.recall:.1%} | |"
        )
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"originals={self.originals} distinct={self.distinct} "
            f"variants/entry={self.variants_per_entry:.1f} "
            f"recall={self.recall:.2%} (plain PDQ {self.plain_recall:.2%}); false matches: "
            f"{self.false_match_pairs}/{self.distinct_pairs} (query, entry) pairs, "
            f"{self.false_match_queries} queries (plain PDQ: {self.plain_false_match_pairs}); "
            f"closest distinct pair: {self.min_distinct_distance} bits plain PDQ, "
            f"{self.min_distinct_variant_distance} bits over all query values and stored variants"
        )


def _query(image: Image.Image, quality: int, limits: ImageLimits) -> QueryHashes:
    return query_hashes(decode_image(encode(image, "JPEG", quality), limits))


def evaluate(
    originals: int,
    distinct: int,
    *,
    transformations: Sequence[Transformation] = TRANSFORMATIONS,
    rotations: bool = True,
    seed: int = 1,
    threshold: int = PDQ_DEFAULT_THRESHOLD,
    progress: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Bank `originals` generated images by image, query every transformation of each, and query
    `distinct` unrelated images against the whole bank (every one of their hits is a false match)."""
    limits = ImageLimits()
    results = {t.name: TransformResult(t.name) for t in transformations}
    bank: list[list[VariantHash]] = []
    plain: list[str] = []
    for i in range(originals):
        original = generate_image(seed * 1_000_003 + i)
        decoded = decode_image(encode(original, "JPEG", 95), limits)
        variants = bank_variants(decoded.image, rotations=rotations)
        bank.append(variants)
        plain.append(next(v.value for v in variants if v.variant == PLAIN))
        transformed_per_image = [
            (t, _query(t.apply(original), t.jpeg_quality, limits))
            for t in transformations
            if rotations or not t.needs_rotations
        ]
        for t, query in transformed_per_image:
            result = results[t.name]
            result.trials += 1
            result.plain_distances.append(_distance(query.pdq, plain[-1]))
            if result.plain_distances[-1] <= threshold:
                result.matched_plain += 1
            if match_query(query, variants, threshold=threshold) is not None:
                result.matched_robust += 1
        if progress:
            progress(f"original {i + 1}/{originals}")

    false_pairs = false_queries = plain_false = 0
    min_distance = min_variant = 256
    for j in range(distinct):
        other = generate_image(seed * 7_000_001 + 500_000 + j)
        query = _query(other, 90, limits)
        hit_any = False
        for variants, plain_value in zip(bank, plain, strict=True):
            distance = _distance(query.pdq, plain_value)
            for value in query.pdq_values():
                min_variant = min(min_variant, *(_distance(value, v.value) for v in variants))
            min_distance = min(min_distance, distance)
            plain_false += distance <= threshold
            if match_query(query, variants, threshold=threshold) is not None:
                false_pairs += 1
                hit_any = True
        false_queries += hit_any
        if progress and (j + 1) % 50 == 0:
            progress(f"distinct {j + 1}/{distinct}")
    return EvaluationReport(
        originals=originals,
        distinct=distinct,
        variants_per_entry=sum(len(v) for v in bank) / max(1, len(bank)),
        per_transform=[r for r in results.values() if r.trials],
        false_match_pairs=false_pairs,
        false_match_queries=false_queries,
        distinct_pairs=distinct * originals,
        plain_false_match_pairs=plain_false,
        min_distinct_distance=min_distance,
        min_distinct_variant_distance=min_variant,
    )


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
