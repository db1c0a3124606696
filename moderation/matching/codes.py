"""Binary hash codes as numpy words: packing, validation and the brute-force reference scan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from moderation.matching.errors import InvalidHashCodes

Words = npt.NDArray[np.uint64]
IdArray = npt.NDArray[np.int64]

WORD_BITS = 64
# Bounds the temporary (rows x words) array a scan materialises at once.
SCAN_CHUNK_ROWS = 1 << 18


def word_count(bits: int) -> int:
    return -(-bits // WORD_BITS)


def check_bits(bits: int) -> None:
    if bits <= 0 or bits % 8:
        raise InvalidHashCodes(f"bit length must be a positive multiple of 8, got {bits}")


def pack_codes(codes: npt.ArrayLike | Sequence[bytes], bits: int) -> Words:
    """Turn codes into an (n, words) uint64 array.

    Accepts an (n, bits/8) uint8 array, a sequence of `bits/8`-byte strings, or an already packed
    (n, words) uint64 array. Codes are zero-padded to whole 64-bit words, which leaves distances unchanged.
    """
    check_bits(bits)
    nbytes = bits // 8
    words = word_count(bits)
    if isinstance(codes, np.ndarray) and codes.dtype == np.uint64:
        if codes.ndim != 2 or codes.shape[1] != words:
            raise InvalidHashCodes(f"packed codes must have shape (n, {words}), got {codes.shape}")
        return np.ascontiguousarray(codes)
    if not isinstance(codes, np.ndarray):
        items: list[Any] = list(codes)  # type: ignore[arg-type]
        if items and isinstance(items[0], bytes | bytearray | memoryview):
            if any(len(item) != nbytes for item in items):
                raise InvalidHashCodes(f"every code must be {nbytes} bytes long")
            raw = np.frombuffer(b"".join(bytes(item) for item in items), dtype=np.uint8)
            codes = raw.reshape(len(items), nbytes)
        else:
            codes = np.asarray(items, dtype=np.uint8) if items else np.zeros((0, nbytes), np.uint8)
    if codes.dtype != np.uint8:
        raise InvalidHashCodes(f"codes must be uint8 bytes or packed uint64 words, got dtype {codes.dtype}")
    if codes.ndim != 2 or codes.shape[1] != nbytes:
        raise InvalidHashCodes(f"{bits}-bit codes must have shape (n, {nbytes}), got {codes.shape}")
    padded = np.zeros((codes.shape[0], words * 8), dtype=np.uint8)
    padded[:, :nbytes] = codes
    return padded.view("<u8").astype(np.uint64, copy=False).reshape(codes.shape[0], words)


def codes_from_hex(values: Sequence[str], bits: int) -> Words:
    """Parse hex strings (PDQ: 64 hex characters) into packed words; a bad value raises InvalidHashCodes."""
    nbytes = bits // 8
    raw = []
    for position, value in enumerate(values):
        try:
            code = bytes.fromhex(value)
        except ValueError:
            raise InvalidHashCodes(f"code {position} is not hexadecimal") from None
        if len(code) != nbytes:
            raise InvalidHashCodes(f"code {position} has {len(code) * 8} bits, expected {bits}")
        raw.append(code)
    return pack_codes(raw, bits)


def pack_ids(ids: npt.ArrayLike, count: int) -> IdArray:
    """Validate ids as a 1-d array of `count` non-negative int64 values."""
    try:
        array = np.asarray(ids)
    except (TypeError, ValueError):
        raise InvalidHashCodes("ids must be integers") from None
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidHashCodes(f"expected {count} ids, got shape {array.shape}")
    if count and not np.issubdtype(array.dtype, np.integer):
        raise InvalidHashCodes(f"ids must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if count and array.min() < 0:
        raise InvalidHashCodes("ids must be non-negative")
    return np.ascontiguousarray(array)


def distances(words: Words, query: Words) -> npt.NDArray[np.int64]:
    """Hamming distance of every row of `words` to one packed query row."""
    return np.bitwise_count(words ^ query).sum(axis=1, dtype=np.int64)


def scan(
    words: Words, queries: Words, radius: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Brute-force range search: (query index, row, distance) of every row within `radius` inclusive."""
    out_q, out_rows, out_d = [], [], []
    for qi in range(queries.shape[0]):
        for start in range(0, words.shape[0], SCAN_CHUNK_ROWS):
            d = distances(words[start : start + SCAN_CHUNK_ROWS], queries[qi])
            rows = np.flatnonzero(d <= radius)
            if rows.size:
                out_q.append(np.full(rows.size, qi, dtype=np.int64))
                out_rows.append(rows + start)
                out_d.append(d[rows])
    if not out_q:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return np.concatenate(out_q), np.concatenate(out_rows), np.concatenate(out_d)
