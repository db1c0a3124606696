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
