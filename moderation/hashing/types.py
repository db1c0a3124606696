"""Hash types (name, bit length, hex format, distance) and vectorised helpers for PDQ rows."""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from moderation.exceptions import ValidationFailed

_HEX_DIGITS = frozenset(string.hexdigits)


class InvalidHash(ValidationFailed):
    """A hash value that is not valid for its type (wrong length, not hex, unknown type)."""

    code = "invalid_hash"


@dataclass(frozen=True)
class HashType:
    """One kind of hash the service understands.

    Lifecycle: a value enters as text (an API body, an import line, a hasher's output), goes through
    `parse`, which validates it and returns the canonical lowercase hex that is stored and compared;
    `to_bytes` gives the fixed-width binary row an index holds; `distance` compares two canonical values.
    Perceptual types use the Hamming distance. Exact types (`perceptual=False`) match only on equality:
    their distance is 0 when equal and `bits + 1` otherwise, farther than any threshold can reach.
    """

    name: str
    bits: int
    perceptual: bool

    @property
    def hex_length(self) -> int:
        return self.bits // 4

    @property
    def byte_length(self) -> int:
        return self.bits // 8

    def parse(self, value: str) -> str:
        """Validate a hex value and return it in canonical form (lowercase, no surrounding space)."""
        if not isinstance(value, str):
            raise InvalidHash(f"{self.name} hash must be a hex string", details={"type": self.name})
        text = value.strip().lower()
        if len(text) != self.hex_length or not _HEX_DIGITS.issuperset(text):
            raise InvalidHash(
                f"{self.name} hash must be {self.hex_length} hex characters",
                details={"type": self.name, "value": value[:80]},
            )
        return text

    def to_bytes(self, value: str) -> bytes:
        return bytes.fromhex(self.parse(value))

    def from_bytes(self, raw: bytes) -> str:
        if len(raw) != self.byte_length:
            raise InvalidHash(
                f"{self.name} hash must be {self.byte_length} bytes", details={"type": self.name}
            )
        return raw.hex()

    def distance(self, a: str, b: str) -> int:
        """Hamming distance for perceptual types; 0 or `bits + 1` for exact ones."""
        left, right = self.parse(a), self.parse(b)
        if not self.perceptual:
            return 0 if left == right else self.bits + 1
        return (int(left, 16) ^ int(right, 16)).bit_count()


SHA256 = HashType("sha256", 256, perceptual=False)
MD5 = HashType("md5", 128, perceptual=False)
PDQ = HashType("pdq", 256, perceptual=True)
PHASH = HashType("phash", 64, perceptual=True)
DHASH = HashType("dhash", 64, perceptual=True)

HASH_TYPES: dict[str, HashType] = {t.name: t for t in (SHA256, MD5, PDQ, PHASH, DHASH)}

# The industry's PDQ match threshold (StopNCII, ThreatExchange).
PDQ_DEFAULT_THRESHOLD = 31


def get_hash_type(name: str) -> HashType:
    """The registered hash type called `name` (case-insensitive), or `InvalidHash`."""
    try:
        return HASH_TYPES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise InvalidHash(
            f"unknown hash type {name!r} (known: {', '.join(HASH_TYPES)})", details={"type": str(name)}
        ) from None


def parse_hash(type_name: str, value: str) -> tuple[HashType, str]:
    """Validate a (type, value) pair as it arrives from a client or a file."""
    hash_type = get_hash_type(type_name)
    return hash_type, hash_type.parse(value)


def hex_to_rows(values: Iterable[str], hash_type: HashType = PDQ) -> np.ndarray:
    """Hex values -> an (n, bytes) uint8 array (32-byte rows for PDQ), validating each value."""
    canonical = [hash_type.parse(v) for v in values]
    if not canonical:
        return np.zeros((0, hash_type.byte_length), dtype=np.uint8)
    raw = bytes.fromhex("".join(canonical))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(canonical), hash_type.byte_length).copy()


def rows_to_hex(rows: np.ndarray) -> list[str]:
    """(n, bytes) uint8 rows -> hex strings (the inverse of `hex_to_rows`)."""
    array = np.ascontiguousarray(rows, dtype=np.uint8)
    if array.ndim != 2:
        raise InvalidHash("hash rows must be a 2-D uint8 array")
    return [row.tobytes().hex() for row in array]


def pdq_hex_to_bytes(value: str) -> bytes:
    """One PDQ hex value -> its 32 bytes (the first hex digit holds the most significant bits)."""
    return PDQ.to_bytes(value)


def bytes_to_hex(raw: bytes) -> str:
    return raw.hex()


def rows_to_uint64(rows: np.ndarray) -> np.ndarray:
    """(n, 8k) uint8 rows -> (n, k) uint64 words, big-endian so bit order matches the hex."""
    array = np.ascontiguousarray(rows, dtype=np.uint8)
    return array.view(">u8").astype(np.uint64)


def hamming_to_rows(query: np.ndarray | bytes, rows: np.ndarray) -> np.ndarray:
    """Hamming distance from one query row to every row of an (n, bytes) uint8 array."""
    q = np.frombuffer(query, dtype=np.uint8) if isinstance(query, bytes) else np.asarray(query, np.uint8)
    return np.bitwise_count(np.bitwise_xor(rows, q)).sum(axis=1, dtype=np.int32)


def pairwise_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) Hamming distances between the rows of two uint8 arrays (for evaluations; O(n*m))."""
    wa, wb = rows_to_uint64(a), rows_to_uint64(b)
    out = np.zeros((wa.shape[0], wb.shape[0]), dtype=np.int32)
    for k in range(wa.shape[1]):
        out += np.bitwise_count(np.bitwise_xor(wa[:, k, None], wb[None, :, k])).astype(np.int32)
    return out


def bits_to_hex(bits: Sequence[int] | np.ndarray) -> str:
    """A 0/1 vector (most significant bit first) -> hex, the layout of Meta's reference PDQ strings."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
