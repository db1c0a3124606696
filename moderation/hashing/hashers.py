"""Compute every hash of an image from one decode: SHA-256, MD5, PDQ (+ quality), pHash, dHash."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from moderation.hashing.intake import DecodedImage, ImageLimits, decode_image
from moderation.hashing.types import bits_to_hex

# The order pdqhash.compute_dihedral returns its eight hashes in (Meta's reference order).
DIHEDRAL_NAMES: tuple[str, ...] = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)

# The same seven non-identity variants as Pillow transposes, for hashing the transformed pixels.
DIHEDRAL_TRANSPOSES: dict[str, Image.Transpose] = {
    "rotate90": Image.Transpose.ROTATE_90,
    "rotate180": Image.Transpose.ROTATE_180,
    "rotate270": Image.Transpose.ROTATE_270,
    "flip_x": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip_y": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}


@dataclass(frozen=True)
class ImageHashes:
    """All hashes of one image. Perceptual values are lowercase hex; `pdq_quality` is 0-100
    (Meta suggests ignoring PDQ hashes of quality below 50: flat images hash unreliably).
    `phash`/`dhash` are None where they were not computed (a check computes them only while some bank
    holds that type, unless `MODERATION_CHECK_PERCEPTUAL_HASHES=all`)."""

    sha256: str
    md5: str
    pdq: str
    pdq_quality: int
    phash: str | None
    dhash: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def typed(self) -> list[tuple[str, str]]:
        """(hash type name, value) pairs, the shape banks and the match API use (computed ones only)."""
        pairs = [("sha256", self.sha256), ("md5", self.md5), ("pdq", self.pdq)]
        pairs += [(name, value) for name, value in (("phash", self.phash), ("dhash", self.dhash)) if value]
        return pairs


def pdq_of_array(pixels: np.ndarray) -> tuple[str, int]:
    """PDQ hex and quality of an (H, W, 3) uint8 RGB array."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels, dtype=np.uint8))
    return bits_to_hex(bits), int(quality)


def pdq_of(image: Image.Image) -> tuple[str, int]:
    """PDQ hex and quality of an RGB Pillow image."""
    return pdq_of_array(np.asarray(image, dtype=np.uint8))


def pdq_dihedral(image: Image.Image) -> dict[str, str]:
    """The PDQ hashes of the image's eight rotations/flips, keyed by `DIHEDRAL_NAMES` (one pass)."""
    vectors, _quality = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(image, dtype=np.uint8)))
    return {name: bits_to_hex(bits) for name, bits in zip(DIHEDRAL_NAMES, vectors, strict=True)}


def phash_of(image: Image.Image) -> str:
    return str(imagehash.phash(image))


def dhash_of(image: Image.Image) -> str:
    return str(imagehash.dhash(image))


# The 64-bit perceptual types a caller may leave out (a check computes them only when a bank holds them).
OPTIONAL_PERCEPTUAL = ("phash", "dhash")


def hash_decoded(
    data: bytes,
    decoded: DecodedImage,
    *,
    sha256: str = "",
    perceptual: Collection[str] = OPTIONAL_PERCEPTUAL,
) -> ImageHashes:
    """Hashes of an already decoded image (`data` are its raw bytes, for the exact hashes): SHA-256
    (`sha256` when the caller already has it), MD5, PDQ, and those of pHash/dHash named in `perceptual`."""
    pdq, quality = pdq_of_array(decoded.array())
    return ImageHashes(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        pdq=pdq,
        pdq_quality=quality,
        phash=phash_of(decoded.image) if "phash" in perceptual else None,
        dhash=dhash_of(decoded.image) if "dhash" in perceptual else None,
    )


def decode_and_hash(
    data: bytes, limits: ImageLimits, *, sha256: str = "", perceptual: Collection[str] = OPTIONAL_PERCEPTUAL
) -> tuple[DecodedImage, ImageHashes]:
    """Decode once (safely, within `limits`) and hash; raises an `ImageRejected` subclass for a bad image."""
    decoded = decode_image(data, limits)
    return decoded, hash_decoded(data, decoded, sha256=sha256, perceptual=perceptual)


def hash_image_bytes(data: bytes, limits: ImageLimits) -> ImageHashes:
    """Decode once (safely, within `limits`) and compute every hash.

    Raises an `ImageRejected` subclass (stable code) for anything that is not an acceptable image.
    """
    return hash_decoded(data, decode_image(data, limits))
