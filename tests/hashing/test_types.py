"""Hash types: validation, canonical form, distances, vectorised row helpers."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.hashing.types import (
    HASH_TYPES,
    MD5,
    PDQ,
    PHASH,
    SHA256,
    InvalidHash,
    get_hash_type,
    hamming_to_rows,
    hex_to_rows,
    pairwise_hamming,
    parse_hash,
    pdq_hex_to_bytes,
    rows_to_hex,
    rows_to_uint64,
)

PDQ_A = "e64cc9d91e623842f8d1f1d9a398e78c9f199a3bd87924f2b7e11e0bf061b064"


def test_registry_names_and_bit_lengths() -> None:
    assert {name: t.bits for name, t in HASH_TYPES.items()} == {
        "sha256": 256,
        "md5": 128,
        "pdq": 256,
        "phash": 64,
        "dhash": 64,
    }
    assert get_hash_type(" PDQ ") is PDQ


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("pdq", PDQ_A[:-1]),
        ("pdq", PDQ_A + "0"),
        ("pdq", "z" + PDQ_A[1:]),
        ("phash", "12345"),
        ("md5", ""),
        ("nosuch", "00"),
    ],
)
def test_invalid_values_raise_invalid_hash(type_name: str, value: str) -> None:
    with pytest.raises(InvalidHash) as caught:
        parse_hash(type_name, value)
    assert caught.value.code == "invalid_hash"
    assert caught.value.status == 422


def test_parse_returns_canonical_lowercase() -> None:
    assert PDQ.parse("  " + PDQ_A.upper() + "\n") == PDQ_A


def test_hamming_distance_of_perceptual_types() -> None:
    flipped = f"{int(PDQ_A, 16) ^ 0b1011:064x}"
    assert PDQ.distance(PDQ_A, flipped) == 3
    assert PDQ.distance(PDQ_A, PDQ_A) == 0
    assert PHASH.distance("ffffffffffffffff", "0000000000000000") == 64


def test_exact_types_match_only_on_equality() -> None:
    a, b = "a" * 64, "b" * 64
    assert SHA256.distance(a, a.upper()) == 0
    assert SHA256.distance(a, b) > SHA256.bits
    assert MD5.distance("0" * 32, "1" * 32) > MD5.bits


def test_rows_round_trip_and_vectorised_distances() -> None:
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    hexes = rows_to_hex(rows)
    assert all(len(h) == 64 for h in hexes)
    assert np.array_equal(hex_to_rows(hexes), rows)
    assert pdq_hex_to_bytes(hexes[7]) == rows[7].tobytes()
    distances = hamming_to_rows(rows[0], rows)
    assert distances[0] == 0
    assert [int(d) for d in distances] == [PDQ.distance(hexes[0], h) for h in hexes]
    matrix = pairwise_hamming(rows[:5], rows)
    assert matrix[2, 9] == PDQ.distance(hexes[2], hexes[9])
    words = rows_to_uint64(rows[:1])
    assert f"{int(words[0, 0]):016x}" == hexes[0][:16]


def test_hex_to_rows_rejects_bad_values() -> None:
    with pytest.raises(InvalidHash):
        hex_to_rows([PDQ_A, "nothex"])
