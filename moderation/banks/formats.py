"""Bank file formats: CSV and JSONL (`hash_type,value,metadata`), plain PDQ hex lines, and the
python-threatexchange / HMA signal formats (`te`: `<signal type> <value>` lines, `te-csv`: the
`threatexchange dataset -P --csv` columns), read in batches."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from moderation.exceptions import ModerationError
from moderation.hashing.types import PDQ, parse_hash


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PDQ_HEX = "pdq-hex"
    TE = "te"
    TE_CSV = "te-csv"

    @classmethod
    def for_path(cls, path: str) -> FileFormat:
        """Guess the format from a file name: .csv, .jsonl/.ndjson, anything else is PDQ hex lines."""
        lowered = path.lower()
        if lowered.endswith(".csv"):
            return cls.CSV
        if lowered.endswith((".jsonl", ".ndjson")):
            return cls.JSONL
        return cls.PDQ_HEX


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass
class ParsedBatch:
    """One batch of a file, by column: the valid hashes (hash type, canonical value and metadata, None
    everywhere when `metas` is None) and the bad lines with their numbers."""

    types: list[str]
    values: list[str]
    metas: list[dict[str, Any] | None] | None
    bad: list[BadLine]
    lines: int

    @classmethod
    def of(
        cls, hashes: list[tuple[str, str, dict[str, Any] | None]], bad: list[BadLine], lines: int
    ) -> ParsedBatch:
        metas = [m for _, _, m in hashes]
        return cls(
            [t for t, _, _ in hashes],
            [v for _, v, _ in hashes],
            metas if any(m is not None for m in metas) else None,
            bad,
            lines,
        )

    @property
    def hashes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        metas = self.metas if self.metas is not None else [None] * len(self.values)
        return list(zip(self.types, self.values, metas, strict=True))


def read_batches(lines: Iterable[str], fmt: FileFormat, batch_size: int = 20_000) -> Iterator[ParsedBatch]:
    """Parse `lines` lazily, `batch_size` lines at a time (the file is never held whole).

    Blank lines are skipped everywhere; `#` comment lines in PDQ hex files; a header row in CSV files.
    Line numbers count every line from 1, so operators can find a bad line in the original file."""
    source = iter(lines)
    parse = {
        FileFormat.CSV: _parse_csv,
        FileFormat.JSONL: _parse_jsonl,
        FileFormat.PDQ_HEX: _parse_pdq_hex,
        FileFormat.TE: _parse_te,
        FileFormat.TE_CSV: _parse_te_csv,
    }[fmt]
    state: dict[str, Any] = {"first": True}
    number = 1
    while True:
        chunk = list(itertools.islice(source, batch_size))
        if not chunk:
            return
        yield parse(number, chunk, state)
        number += len(chunk)


# Per byte: is it an ASCII hex digit? (0-9, a-f, A-F)
_IS_HEX = np.zeros(256, dtype=bool)
_IS_HEX[list(b"0123456789abcdefABCDEF")] = True


def _parse_pdq_hex(first: int, chunk: list[str], _state: dict[str, Any]) -> ParsedBatch:
    fast = _pdq_hex_fast(chunk)
    if fast is not None:
        return ParsedBatch(["pdq"] * len(fast), fast, None, [], len(chunk))
    numbers: list[int] = []
    tokens: list[str] = []
    for number, line in enumerate(chunk, start=first):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        # ThreatExchange files may carry more fields after the hash (quality, ids): the hash comes first.
        numbers.append(number)
        tokens.append(text.split(",", 1)[0].split(None, 1)[0])
    values: list[str] = []
    bad: list[BadLine] = []
    for number, token in zip(numbers, tokens, strict=True):
        try:
            values.append(PDQ.parse(token))
        except ModerationError as exc:
            bad.append(BadLine(number, exc.message))
    return ParsedBatch(["pdq"] * len(values), values, None, bad, len(chunk))


def _pdq_hex_fast(chunk: list[str]) -> list[str] | None:
    """The common case, checked in bulk with numpy: every line is exactly 64 hex digits and a newline
    (LF or CRLF). Returns the lower-cased values, or None to fall back to the line-by-line parser."""
    text = "".join(chunk)
    width = PDQ.hex_length + (2 if chunk[0].endswith("\r\n") else 1)
    if len(text) != width * len(chunk) or not text.isascii():
        return None
    grid = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(len(chunk), width)
    if not (grid[:, -1] == ord("\n")).all() or (width == 66 and not (grid[:, 64] == ord("\r")).all()):
        return None
    digits = grid[:, : PDQ.hex_length]
    if not _IS_HEX[digits].all():
        return None
    # Setting bit 5 lower-cases A-F and leaves 0-9 unchanged.
    joined = (digits | 0x20).tobytes().decode("ascii")
    step = PDQ.hex_length
    return [joined[i : i + step] for i in range(0, len(joined), step)]


def _parse_csv(first: int, chunk: list[str], state: dict[str, Any]) -> ParsedBatch:
    hashes: list[tuple[str, str, dict[str, Any] | None]] = []
    bad: list[BadLine] = []
    for number, line in enumerate(chunk, start=first):
        if not line.strip():
            continue
        try:
            # Most lines carry no quoted metadata: a plain split is several times faster than csv.
            row = line.rstrip("\r\n").split(",") if '"' not in line else next(csv.reader([line]))
        except csv.Error as exc:
            bad.append(BadLine(number, f"not valid CSV: {exc}"))
            continue
        if state.pop("first", False) and row and row[0].strip().lower() in ("hash_type", "type"):
            continue
        if len(row) < 2 or len(row) > 3:
            bad.append(BadLine(number, "expected hash_type,value[,metadata]"))
            continue
        raw_meta = row[2] if len(row) == 3 else ""
        try:
            metadata = _metadata(json.loads(raw_meta)) if raw_meta.strip() else None
            hashes.append((*_typed(row[0], row[1]), metadata))
        except (ValueError, ModerationError) as exc:
            bad.append(BadLine(number, _reason(exc)))
    return ParsedBatch.of(hashes, bad, len(chunk))


def _parse_jsonl(first: int, chunk: list[str], _state: dict[str, Any]) -> ParsedBatch:
    hashes: list[tuple[str, str, dict[str, Any] | None]] = []
    bad: list[BadLine] = []
    for number, line in enumerate(chunk, start=first):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("each line must be a JSON object")
            hash_type = record.get("hash_type", record.get("type"))
            value = record.get("value")
            if not isinstance(hash_type, str) or not isinstance(value, str):
                raise ValueError("hash_type and value must be strings")
            metadata = record.get("metadata")
            hashes.append((*_typed(hash_type, value), _metadata(metadata) if metadata is not None else None))
        except (ValueError, ModerationError) as exc:
            bad.append(BadLine(number, _reason(exc)))
    return ParsedBatch.of(hashes, bad, len(chunk))


# python-threatexchange signal type names taken, and the bank hash type each becomes.
TE_SIGNAL_TYPES = {"pdq": "pdq", "video_md5": "md5"}
TE_CSV_HEADER = "signal_type,signal_str,collab,category,tags\n"


def _te_typed(signal_type: str, value: str) -> tuple[str, str]:
    hash_type = TE_SIGNAL_TYPES.get(signal_type.strip().lower())
    if hash_type is None:
        raise ValueError(f"signal type {signal_type.strip()!r} is not taken ({', '.join(TE_SIGNAL_TYPES)})")
    return _typed(hash_type, value.strip())


def _parse_te(first: int, chunk: list[str], _state: dict[str, Any]) -> ParsedBatch:
    hashes: list[tuple[str, str, dict[str, Any] | None]] = []
    bad: list[BadLine] = []
    for number, line in enumerate(chunk, start=first):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        signal_type, _, rest = text.partition(" ")
        try:
            if not rest.strip():
                raise ValueError("expected '<signal type> <value>'")
            # `threatexchange dataset -P` may print the collaboration and opinion after the value.
            hashes.append((*_te_typed(signal_type, rest.split(None, 1)[0]), None))
        except (ValueError, ModerationError) as exc:
            bad.append(BadLine(number, _reason(exc)))
    return ParsedBatch.of(hashes, bad, len(chunk))


def _parse_te_csv(first: int, chunk: list[str], state: dict[str, Any]) -> ParsedBatch:
    hashes: list[tuple[str, str, dict[str, Any] | None]] = []
    bad: list[BadLine] = []
    for number, line in enumerate(chunk, start=first):
        if not line.strip():
            continue
        try:
            row = next(csv.reader([line]))
        except csv.Error as exc:
            bad.append(BadLine(number, f"not valid CSV: {exc}"))
            continue
        if state.pop("first", False) and row and row[0].strip().lower() == "signal_type":
            continue
        try:
            if len(row) < 2:
                raise ValueError("expected signal_type,signal_str[,collab,category,tags]")
            extra = dict(zip(("collab", "category", "tags"), (c.strip() for c in row[2:5]), strict=False))
            metadata = {k: v for k, v in extra.items() if v} or None
            hashes.append((*_te_typed(row[0], row[1]), metadata))
        except (ValueError, ModerationError) as exc:
            bad.append(BadLine(number, _reason(exc)))
    return ParsedBatch.of(hashes, bad, len(chunk))


def _typed(hash_type: str, value: str) -> tuple[str, str]:
    kind, canonical = parse_hash(hash_type, value)
    return kind.name, canonical


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, ModerationError):
        return exc.message
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg}"
    return str(exc)


def format_row(fmt: FileFormat, hash_type: str, value: str, metadata: dict[str, Any] | None) -> str | None:
    """One exported line (with its newline), or None when the format cannot hold this hash type."""
    if fmt is FileFormat.PDQ_HEX:
        return f"{value}\n" if hash_type == PDQ.name else None
    if fmt in (FileFormat.TE, FileFormat.TE_CSV):
        # The library names no image MD5 signal type: only PDQ rows travel in its formats.
        if hash_type != PDQ.name:
            return None
        if fmt is FileFormat.TE:
            return f"pdq {value}\n"
        return f"pdq,{value},,,\n"
    if fmt is FileFormat.JSONL:
        record: dict[str, Any] = {"hash_type": hash_type, "value": value}
        if metadata:
            record["metadata"] = metadata
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
    meta = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False) if metadata else ""
    if meta:
        meta = '"' + meta.replace('"', '""') + '"'
    return f"{hash_type},{value},{meta}\n"


CSV_HEADER = "hash_type,value,metadata\n"
