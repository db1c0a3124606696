"""Factories for bank tests: random PDQ values, near-duplicates and generated images."""

from __future__ import annotations

import random

from moderation.hashing.evaluation import encode, generate_image


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(value: str, bits: int, rng: random.Random, width: int = 256) -> str:
    """`value` with exactly `bits` distinct bits flipped."""
    number = int(value, 16)
    for position in rng.sample(range(width), bits):
        number ^= 1 << position
    return f"{number:0{width // 4}x}"


def image_bytes(seed: int, quality: int = 92) -> bytes:
    """A generated photo-like JPEG (shapes, gradients, texture, text; no people)."""
    return encode(generate_image(seed), "JPEG", quality)
