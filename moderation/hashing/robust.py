"""Stay-down that survives re-uploaders: extra PDQ variants stored bank-side, a cheap frame trim query-side.

Design, chosen by measurement (benchmarks/robust_matching.py, figures in benchmarks/RESULTS.md):

* Re-encoding, resizing and brightness/contrast/saturation changes already stay within PDQ 31.
* Crops shift the content PDQ sees; a 1% shift costs ~15 bits, so the bank stores PDQ of its image
  cropped on a 1% grid (2-5% off each side, and off all sides): any crop from 1.5% to 5.5% lands within
  ~0.5% of a stored variant. Corner crops (two adjacent sides) get their own coarser grid, 2.5% and
  4.5% off each corner, which covers 2-5% off both sides and mixed 2% + 4% corners.
* Hue rotations change luminance; the bank stores PDQ of its image hue-rotated on a 20-step grid.
* Borders and caption bars cannot be enumerated bank-side (width and colour each move PDQ by 15-30 bits
  per step), so the query side trims a uniform frame off the decoded pixels before a second PDQ, and
  only when a frame is there (a numpy scan of the edges, under a millisecond); an image without a
  frame is hashed once. The bank stores its own trimmed hash too, for images that came with a frame.
* Banks that match rotations store the eight dihedral PDQ hashes (one pdqhash pass).

Everything is a PDQ value with a `variant` tag: banks store them as extra rows of the entry, the
index matches them like any PDQ row, and a match reports the entry with its best distance. Entries
imported as bare hashes carry only `plain`. Flat images (PDQ quality < `MIN_VARIANT_QUALITY`) get no
variants: their hashes are unreliable and variants would only add chances of a false match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance

from moderation.hashing.hashers import DIHEDRAL_TRANSPOSES, pdq_of, phash_of
from moderation.hashing.intake import DecodedImage
from moderation.hashing.types import PDQ_DEFAULT_THRESHOLD

PLAIN = "plain"
TRIMMED = "trimmed"

# Meta's guidance: PDQ hashes of quality below 50 are too flat to trust.
MIN_VARIANT_QUALITY = 50


@dataclass(frozen=True)
class RobustPlan:
    """Which variants a bank stores for an image added by image (policy, not code: tune by measurement)."""

    crop_fractions: tuple[float, ...] = (0.02, 0.03, 0.04, 0.05)
    crop_sides: tuple[str, ...] = ("left", "right", "top", "bottom", "all")
    # Two adjacent sides cropped at once (a corner) sit 40-70 bits from the one-side variants; two
    # corner fractions per corner cover 2-5% off each side, 2% + 4% mixed included (measured).
    corner_fractions: tuple[float, ...] = (0.025, 0.045)
    corners: tuple[str, ...] = ("top_left", "top_right", "bottom_left", "bottom_right")
    hue_shifts: tuple[int, ...] = (-60, -40, -20, 20, 40, 60)
    # Brighter and more saturated copies clip highlights, which moves PDQ past 31 on some images.
    brightness_factors: tuple[float, ...] = (1.3,)
    saturation_factors: tuple[float, ...] = (1.5,)
    trim: bool = True


DEFAULT_PLAN = RobustPlan()


@dataclass(frozen=True)
class VariantHash:
    """One stored PDQ value of an entry; `variant` says how it was derived (`plain`, `crop_left_3`...)."""

    variant: str
    value: str
    quality: int
    hash_type: str = "pdq"


@dataclass(frozen=True)
class QueryHashes:
    """What a query looks up: its plain PDQ, plus the PDQ of its content without a uniform frame when
    it had one. `phash` rides along (same decode) for callers that match pHash banks."""

    pdq: str
    pdq_quality: int
    phash: str
    trimmed_pdq: str | None = None

    def pdq_values(self) -> list[str]:
        """The PDQ values to look up in the index (1, or 2 for framed images)."""
        return [self.pdq] if self.trimmed_pdq is None else [self.pdq, self.trimmed_pdq]


@dataclass(frozen=True)
class VariantMatch:
    variant: str
    distance: int
    query_value: str


# --- frame trimming ---------------------------------------------------------------------------------

_FRAME_TOLERANCE = 32  # max per-channel difference from the frame colour (JPEG ringing stays inside it)
_FIRST_ROW_UNIFORM = 0.95  # a frame's outer row is almost entirely one colour
_ROW_IN_FRAME = 0.55  # later rows may carry caption text and still belong to the frame
_BAND_IN_FRAME = 0.6  # a caption band (margins plus text) is mostly the frame colour
_MAX_SIDE_TRIM = 0.35
_MIN_KEEP = 0.5
_MIN_TRIM_ROWS = 3


def _close_to(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per pixel: within the tolerance of `colour` on every channel (per-channel ops stay vectorised)."""
    close = np.abs(pixels[..., 0] - colour[0]) <= _FRAME_TOLERANCE
    for channel in (1, 2):
        close &= np.abs(pixels[..., channel] - colour[channel]) <= _FRAME_TOLERANCE
    return close


def _frame_rows(rows: np.ndarray) -> int:
    """How many leading rows of an (H, W, 3) int16 array form a uniform frame (or a caption bar)."""
    colour = np.median(rows[0], axis=0).round().astype(np.int16)
    # Most images have no frame: the outer row decides that before any deeper scan.
    if _close_to(rows[0], colour).mean() < _FIRST_ROW_UNIFORM:
        return 0
    limit = int(rows.shape[0] * _MAX_SIDE_TRIM)
    fractions = _close_to(rows[: limit + 1], colour).mean(axis=1)
    # A caption bar is uniform margins around a band of text rows: extend to the innermost uniform
    # row as long as the band so far is mostly the frame colour, then over any rows still in frame.
    uniform = np.flatnonzero(fractions >= _FIRST_ROW_UNIFORM)
    running = np.cumsum(fractions) / np.arange(1, fractions.size + 1)
    inner = int(max(i for i in uniform if running[i] >= _BAND_IN_FRAME))
    outside = np.flatnonzero(fractions[inner:] < _ROW_IN_FRAME)
    count = inner + int(outside[0]) if outside.size else limit
    return count if count >= _MIN_TRIM_ROWS else 0


def frame_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) of the content inside a uniform frame, or None without one."""
    pixels = np.asarray(image, dtype=np.int16)
    height, width = pixels.shape[:2]
    if height < 16 or width < 16:
        return None
    top = _frame_rows(pixels)
    bottom = _frame_rows(pixels[::-1])
    columns = pixels.transpose(1, 0, 2)
    left = _frame_rows(columns)
    right = _frame_rows(columns[::-1])
    if not (top or bottom or left or right):
        return None
    box = (left, top, width - right, height - bottom)
    if (box[2] - box[0]) < width * _MIN_KEEP or (box[3] - box[1]) < height * _MIN_KEEP:
        return None
    return box


def trim_frame(image: Image.Image) -> Image.Image | None:
    """The image without its uniform border / caption bars, or None when it has none."""
    box = frame_box(image)
    return image.crop(box) if box is not None else None


# --- bank side -------------------------------------------------------------------------------------


def _crop(image: Image.Image, fraction: float, side: str) -> Image.Image:
    """Crop `fraction` off one side, off all sides, or off the two sides of a corner (`top_left`...)."""
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    sides = {"all": ("left", "right", "top", "bottom")}.get(side, tuple(side.split("_")))
    left = dx if "left" in sides else 0
    right = image.width - (dx if "right" in sides else 0)
    top = dy if "top" in sides else 0
    bottom = image.height - (dy if "bottom" in sides else 0)
    return image.crop((left, top, right, bottom))


def _hue_rotate(image: Image.Image, shift: int) -> Image.Image:
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
    return Image.fromarray(hsv, mode="HSV").convert("RGB")


def bank_variants(
    image: Image.Image, *, rotations: bool = False, plan: RobustPlan = DEFAULT_PLAN
) -> list[VariantHash]:
    """The PDQ variants a bank stores for an entry added by image (the first is always `plain`).

    `image` is the decoded, upright RGB image (`DecodedImage.image`). Costs one PDQ per variant
    (37 for the default plan, 44 with rotations; tens of milliseconds at hashing size); queries stay cheap.
    """
    plain, quality = pdq_of(image)
    variants = [VariantHash(PLAIN, plain, quality)]
    if quality < MIN_VARIANT_QUALITY:
        return variants
    candidates: list[tuple[str, Image.Image]] = []
    if plan.trim:
        trimmed = trim_frame(image)
        if trimmed is not None:
            candidates.append((TRIMMED, trimmed))
    for side in plan.crop_sides:
        for fraction in plan.crop_fractions:
            candidates.append((f"crop_{side}_{round(fraction * 100)}", _crop(image, fraction, side)))
    for corner in plan.corners:
        for fraction in plan.corner_fractions:
            candidates.append((f"crop_{corner}_{fraction * 100:g}", _crop(image, fraction, corner)))
    for shift in plan.hue_shifts:
        candidates.append((f"hue_{shift:+d}", _hue_rotate(image, shift)))
    for factor in plan.brightness_factors:
        candidates.append((f"brightness_x{factor:g}", ImageEnhance.Brightness(image).enhance(factor)))
    for factor in plan.saturation_factors:
        candidates.append((f"saturation_x{factor:g}", ImageEnhance.Color(image).enhance(factor)))
    for name, derived in candidates:
        value, derived_quality = pdq_of(derived)
        if derived_quality >= MIN_VARIANT_QUALITY:
            variants.append(VariantHash(name, value, derived_quality))
    if rotations:
        # Hashing the transposed pixels lands closer to what a rotated upload hashes to than
        # pdqhash's one-pass dihedral (measured up to 18 bits apart on Meta's reference photo).
        for name, method in DIHEDRAL_TRANSPOSES.items():
            value, _ = pdq_of(image.transpose(method))
            variants.append(VariantHash(name, value, quality))
    return _unique(variants)


def _unique(variants: Iterable[VariantHash]) -> list[VariantHash]:
    seen: set[str] = set()
    out = []
    for v in variants:
        if v.value not in seen:
            seen.add(v.value)
            out.append(v)
    return out


# --- query side ------------------------------------------------------------------------------------


def query_hashes(decoded: DecodedImage | Image.Image) -> QueryHashes:
    """Hash a query for stay-down matching: plain PDQ always, a trimmed PDQ only for framed images."""
    image = decoded.image if isinstance(decoded, DecodedImage) else decoded
    pdq, quality = pdq_of(image)
    trimmed_value = None
    trimmed = trim_frame(image)
    if trimmed is not None:
        value, trimmed_quality = pdq_of(trimmed)
        if trimmed_quality >= MIN_VARIANT_QUALITY and value != pdq:
            trimmed_value = value
    return QueryHashes(pdq=pdq, pdq_quality=quality, phash=phash_of(image), trimmed_pdq=trimmed_value)


def match_query(
    query: QueryHashes, variants: Sequence[VariantHash], *, threshold: int = PDQ_DEFAULT_THRESHOLD
) -> VariantMatch | None:
    """The closest stored variant within `threshold` of any of the query's PDQ values, or None.

    This is the rule an index applies per entry: any variant row within the bank's PDQ threshold
    matches, and the entry is reported once with its best distance.
    """
    best: VariantMatch | None = None
    for query_value in query.pdq_values():
        q = int(query_value, 16)
        for v in variants:
            distance = (q ^ int(v.value, 16)).bit_count()
            if distance <= threshold and (best is None or distance < best.distance):
                best = VariantMatch(v.variant, distance, query_value)
    return best
