"""Hashers: pinned values for a fixed image, one decode for all hashes, dihedral variants, conformance."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from moderation.config import PROJECT_ROOT
from moderation.hashing import hashers
from moderation.hashing.hashers import (
    DIHEDRAL_NAMES,
    DIHEDRAL_TRANSPOSES,
    hash_image_bytes,
    pdq_dihedral,
    pdq_of,
)
from moderation.hashing.intake import ImageLimits, decode_image, read_image_file
from moderation.hashing.types import PDQ, PDQ_DEFAULT_THRESHOLD

from .factories import asymmetric, distance, encode, pinned_image

LIMITS = ImageLimits()
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference" / "pdq"
# Meta's own conformance tolerance for PDQ implementations.
CONFORMANCE_DISTANCE = 16


def test_hash_is_constant() -> None:
    """Pinned values: a change here means the decode/normalise/hash pipeline changed behaviour."""
    data = encode(pinned_image(), "PNG")
    hashes = hash_image_bytes(data, LIMITS)
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert hashes.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert hashes.pdq == "bb434bf0b5c948e30401a84354d19f6e4a36b54b4ab671bcbf7c7799104e8a77"
    assert hashes.pdq_quality == 100
    assert hashes.phash == "a8e7b80c1f1eb469"
    assert hashes.dhash == "b38bcdccf3313333"


def test_all_hashes_come_from_one_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hashers.decode_image

    def counting(data: bytes, limits: ImageLimits) -> object:
        calls.append(1)
        return real(data, limits)

    monkeypatch.setattr(hashers, "decode_image", counting)
    hashes = hash_image_bytes(encode(asymmetric(), "PNG"), LIMITS)
    assert len(calls) == 1
    assert len(hashes.pdq) == 64 and len(hashes.phash) == 16 and len(hashes.dhash) == 16
    assert dict(hashes.typed())["pdq"] == hashes.pdq


def test_dihedral_variants_match_transposed_images() -> None:
    image = decode_image(encode(asymmetric(), "PNG"), LIMITS).image
    variants = pdq_dihedral(image)
    assert list(variants) == list(DIHEDRAL_NAMES)
    assert variants["original"] == pdq_of(image)[0]
    for name, method in DIHEDRAL_TRANSPOSES.items():
        transposed, _ = pdq_of(image.transpose(method))
        # pdqhash derives the variants from one DCT; they land near, not on, the transposed hash
        # (up to 24 bits here), still inside the match threshold and outside it for the other seven.
        assert distance(variants[name], transposed) <= PDQ_DEFAULT_THRESHOLD, name
        others = [v for n, v in variants.items() if n != name]
        assert min(distance(transposed, v) for v in others) > PDQ_DEFAULT_THRESHOLD, name


def _reference_rows() -> list[tuple[str, str]]:
    table = REFERENCE / "expected.tsv"
    if not table.is_file():
        pytest.skip(f"PDQ reference folder absent ({REFERENCE}); conformance not checked")
    lines = table.read_text().splitlines()[1:]
    return [(path, expected) for path, expected in (line.split("\t") for line in lines if line.strip())]


def test_pdq_conforms_to_reference_hashes() -> None:
    rows = _reference_rows()
    assert rows, "expected.tsv lists no images"
    failures = {}
    for relative, expected in rows:
        data = read_image_file(REFERENCE / relative, LIMITS)
        got = hash_image_bytes(data, LIMITS).pdq
        if PDQ.distance(got, expected) > CONFORMANCE_DISTANCE:
            failures[relative] = PDQ.distance(got, expected)
    assert not failures, f"PDQ farther than {CONFORMANCE_DISTANCE} bits from the reference: {failures}"


def test_reference_exif_rotated_shots_decode_upright() -> None:
    folder = REFERENCE / "reg-test-input" / "exif-rotn"
    if not folder.is_dir():
        pytest.skip(f"PDQ reference folder absent ({folder})")
    for path in sorted(Path(folder).glob("exif-rotn-*.jpg")):
        decoded = decode_image(path.read_bytes(), LIMITS)
        with Image.open(path) as raw:
            turned = raw.getexif().get(0x0112) in (5, 6, 7, 8)
        assert (decoded.image.height > decoded.image.width) == turned, path.name
