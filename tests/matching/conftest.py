"""Factories for match index tests: random codes, planted near-duplicates, an independent brute force."""

from __future__ import annotations

import numpy as np
import pytest


def random_codes(rng: np.random.Generator, n: int, bits: int = 256) -> np.ndarray:
    return rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)


def flip_bits(rng: np.random.Generator, code: np.ndarray, k: int) -> np.ndarray:
    """A copy of `code` with exactly `k` distinct bits flipped (Hamming distance exactly k)."""
    bits = np.unpackbits(code)
    where = rng.choice(bits.size, size=k, replace=False)
    bits[where] ^= 1
    return np.packbits(bits)


def brute_force(ids: np.ndarray, codes: np.ndarray, queries: np.ndarray, radius: int) -> list[list[tuple]]:
    """Reference answer computed bit by bit, independently of the index's packed-word code."""
    results = []
    for query in queries:
        d = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
        best: dict[int, int] = {}
        for i, dist in zip(ids[d <= radius].tolist(), d[d <= radius].tolist(), strict=True):
            best[i] = min(dist, best.get(i, dist))
        results.append(sorted(((i, dist) for i, dist in best.items()), key=lambda x: (x[1], x[0])))
    return results


def as_tuples(results: list) -> list[list[tuple]]:
    return [[(m.id, m.distance) for m in row] for row in results]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


def generated_picture(rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """A synthetic RGB picture: a gradient or smooth noise with a few rectangles on top."""
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    if rng.random() < 0.5:
        angle = rng.random() * 2 * np.pi
        t = np.clip(np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5) + 0.5, 0, 1)
        c0, c1 = rng.random(3) * 255, rng.random(3) * 255
        img = c0 + (c1 - c0) * t[..., None]
    else:
        small = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        img = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC), np.float32)
    img = np.array(img, np.float32)
    for _ in range(rng.integers(1, 4)):
        cx, cy, rx, ry = rng.random(4) * [1, 1, 0.3, 0.3] + [0, 0, 0.05, 0.05]
        img[(np.abs(x - cx) < rx) & (np.abs(y - cy) < ry)] = rng.random(3) * 255
    return np.clip(img, 0, 255).astype(np.uint8)


def re_encoded(rng: np.random.Generator, picture: np.ndarray) -> np.ndarray:
    """A near-duplicate: a JPEG re-encode of a slightly cropped copy."""
    import io

    from PIL import Image

    side = picture.shape[0]
    crop = int(rng.integers(0, 3))
    pil = Image.fromarray(picture).crop((crop, crop, side - crop, side)).resize((side, side))
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=int(rng.integers(40, 90)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def pdq_code(picture: np.ndarray) -> np.ndarray:
    import pdqhash

    bits, _ = pdqhash.compute(np.ascontiguousarray(picture))
    return np.packbits(bits.astype(np.uint8))


def pdq_like_bank(
    rng: np.random.Generator, pictures: int, size: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(codes, queries, pictures): PDQ hashes of generated pictures and of a near-duplicate of each,
    filled up to `size` with families of codes a few to 40 bits from them (clustered, as real banks are);
    queries are fresh near-duplicates of banked pictures and fresh pictures."""
    made = [generated_picture(rng) for _ in range(pictures)]
    real = np.array([pdq_code(p) for p in made] + [pdq_code(re_encoded(rng, p)) for p in made])
    family = [
        flip_bits(rng, real[rng.integers(real.shape[0])], int(rng.integers(0, 41))) for _ in range(size)
    ]
    codes = np.concatenate([real, np.array(family)])[:size]
    queries = np.array(
        [pdq_code(re_encoded(rng, made[i])) for i in range(0, pictures, 7)]
        + [pdq_code(generated_picture(rng)) for _ in range(5)]
    )
    return codes, queries, made
