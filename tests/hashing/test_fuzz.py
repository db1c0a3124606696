"""Property test over mutated image bytes: the only outcomes are valid hashes or an ImageRejected code."""

from __future__ import annotations

import resource
import struct
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.exceptions import ImageRejected
from moderation.hashing.hashers import ImageHashes, hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.hashing.types import HASH_TYPES

from .factories import encode, scene

LIMITS = ImageLimits(max_bytes=512 * 1024, max_pixels=1_000_000)
REFUSAL_CODES = {
    "image_too_large",
    "image_dimensions_too_large",
    "unsupported_format",
    "corrupt_image",
    "empty_image",
}

_BASE = scene(11, (64, 48))
SEEDS: dict[str, bytes] = {
    "jpeg": encode(_BASE, "JPEG", quality=80),
    "png": encode(_BASE, "PNG"),
    "gif": encode(_BASE, "GIF"),
    "webp": encode(_BASE, "WEBP", quality=70),
    "webp_lossless": encode(_BASE, "WEBP", lossless=True),
    "png_rgba": encode(_BASE.convert("RGBA"), "PNG"),
}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "zeros", "giant", "garbage"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "truncate":
            data = data[:at]
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "splice":
            other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            data = data[:at] + bytearray(other[draw(st.integers(0, len(other) - 1)) :])
        elif kind == "zeros":
            data[at:at] = bytes(draw(st.integers(1, 256)))
        elif kind == "giant":
            # Header dimension fields sit in the first few dozen bytes of every seed format.
            offset = draw(st.integers(0, min(64, len(data) - 1)))
            value = draw(st.sampled_from([0, 0xFFFF, 0x7FFF, 0xFFFFFFFF, 100_000, 65_500]))
            packed = struct.pack(">I", value) if draw(st.booleans()) else struct.pack("<H", value & 0xFFFF)
            data[offset : offset + len(packed)] = packed
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def _check(data: bytes) -> None:
    try:
        hashes = hash_image_bytes(data, LIMITS)
    except ImageRejected as exc:
        assert exc.code in REFUSAL_CODES
        return
    assert isinstance(hashes, ImageHashes)
    for name, value in hashes.typed():
        assert HASH_TYPES[name].parse(value) == value
    assert 0 <= hashes.pdq_quality <= 100


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_seeds_hash() -> None:
    for data in SEEDS.values():
        hash_image_bytes(data, LIMITS)


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_bytes_give_hashes_or_a_refusal_code(data: bytes) -> None:
    _check(data)


def test_fuzzing_keeps_memory_bounded() -> None:
    """Python-side peak (tracemalloc) and process peak RSS growth (covers Pillow's C buffers) stay small."""
    rss_before = _peak_rss_mb()
    tracemalloc.start()
    try:
        run = settings(max_examples=120, deadline=None, derandomize=True, database=None)(
            given(mutated())(_check)
        )
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"Python allocations peaked at {peak / 2**20:.1f} MiB"
    assert _peak_rss_mb() - rss_before < 200, "process peak RSS grew by more than 200 MiB while fuzzing"
