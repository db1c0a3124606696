"""Hashing speed: PDQ on a 1024x768 JPEG with and without draft decoding, and full hash_image_bytes."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evaluation import encode, generate_image
from moderation.hashing.hashers import hash_image_bytes, pdq_of
from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import bank_variants, query_hashes

ROUNDS = 60


def timed(label: str, fn, images: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    for data in images[:3]:
        fn(data)
    samples = []
    for i in range(ROUNDS):
        data = images[i % len(images)]
        start = time.perf_counter()
        fn(data)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    print(
        f"{label:52} median {statistics.median(samples):6.2f} ms   p90 {samples[int(0.9 * len(samples))]:6.2f} ms"
    )


def main() -> None:
    limits = ImageLimits()
    images = [encode(generate_image(s).resize((1024, 768)), "JPEG", 90) for s in range(6)]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{ROUNDS} rounds over {len(images)} generated 1024x768 JPEGs (quality 90)")
    timed(
        "PDQ, full decode (decode + PDQ at 1024x768)",
        lambda d: pdq_of(decode_image(d, limits, max_side=None).image),
        images,
    )
    timed(
        "PDQ, draft decode to >=512 px + thumbnail", lambda d: pdq_of(decode_image(d, limits).image), images
    )
    timed("decode only, full", lambda d: decode_image(d, limits, max_side=None), images)
    timed("decode only, draft", lambda d: decode_image(d, limits), images)
    timed("hash_image_bytes (sha256, md5, pdq, phash, dhash)", lambda d: hash_image_bytes(d, limits), images)
    timed(
        "query_hashes (decode + PDQ [+ trimmed PDQ] + pHash)",
        lambda d: query_hashes(decode_image(d, limits)),
        images,
    )
    timed(
        "bank_variants, no rotations (decode + variants)",
        lambda d: bank_variants(decode_image(d, limits).image),
        images,
    )
    timed(
        "bank_variants, with rotations",
        lambda d: bank_variants(decode_image(d, limits).image, rotations=True),
        images,
    )


if __name__ == "__main__":
    main()
