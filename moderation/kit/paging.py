"""One paging style for every list, API and dashboard: keyset paging with an opaque cursor.

A page is fetched with `limit + 1` rows in a total order; `page_of` keeps `limit` of them and, when
there was one more, encodes the last kept row's sort key as `next_cursor`. The caller passes it back
as `cursor`; `decode_cursor` checks its shape against the list's key (`CursorKey`) and gives the
values for `keyset_after`, the SQL condition "strictly after this row". A cursor that does not decode
to the list's key is refused with 422 `invalid_cursor` (never a 500, never a silent first page)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import and_, or_

from moderation.exceptions import ValidationFailed
from moderation.kit.time import ensure_utc

T = TypeVar("T")
KeyValue = int | float | str | datetime | None

MAX_CURSOR_LENGTH = 512
CURSOR_HELP = "`next_cursor` of the previous page (opaque); leave out for the first page"
MAX_INT_KEY = 2**63 - 1


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of a list: the items and the cursor of the next page (None on the last one)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class KeyPart:
    """One value of a sort key: its kind (`int`, `float`, `str`, `time`), whether it may be null
    (sorted last), its bound (ints), and whether the list sorts it descending."""

    kind: str
    nullable: bool = False
    descending: bool = False
    maximum: int = MAX_INT_KEY


CursorKey = tuple[KeyPart, ...]

ID_ASC: CursorKey = (KeyPart("int"),)
ID_DESC: CursorKey = (KeyPart("int", descending=True),)


def _encode_value(value: KeyValue) -> Any:
    if isinstance(value, datetime):
        return ensure_utc(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def encode_cursor(*values: KeyValue) -> str:
    """The opaque cursor of a row's sort key (URL-safe, unpadded base64 of a JSON list)."""
    raw = json.dumps([_encode_value(v) for v in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_value(part: KeyPart, value: Any) -> KeyValue:
    if value is None:
        if not part.nullable:
            raise ValueError("null key")
        return None
    if part.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= part.maximum:
            raise ValueError("not an id")
        return value
    if part.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("not a number")
        return float(value)
    if part.kind == "str":
        if not isinstance(value, str) or len(value) > 256:
            raise ValueError("not a string")
        return value
    if part.kind == "time":
        if not isinstance(value, str):
            raise ValueError("not a time")
        return ensure_utc(datetime.fromisoformat(value))
    raise ValueError(f"unknown key kind {part.kind}")


def decode_cursor(cursor: str, key: CursorKey) -> tuple[KeyValue, ...]:
    """The sort key a cursor carries; `InvalidCursor` (422) when it is not one of this list's."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("cursor too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != len(key):
            raise ValueError("wrong shape")
        return tuple(_decode_value(part, value) for part, value in zip(key, values, strict=True))
    except (ValueError, TypeError, binascii.Error, RecursionError, UnicodeError) as exc:
        raise InvalidCursor("cursor is not valid") from exc


def decode_id_cursor(cursor: str, key: CursorKey = ID_ASC) -> int:
    """The id a cursor of a list in id order (`ID_ASC` or `ID_DESC`) carries."""
    return cast(int, decode_cursor(cursor, key)[0])


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], tuple[KeyValue, ...]]) -> Page[T]:
    """`rows` fetched with `limit + 1`: the first `limit`, and the cursor after the last when more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(*key(items[-1])) if more and items else None)


def keyset_after(query: Any, columns: Sequence[Any], key: CursorKey, values: Sequence[KeyValue]) -> Any:
    """`query` limited to rows strictly after `values` in the order `columns` sort by (each ascending
    or descending per `key`; nullable parts sort NULLS LAST). The caller adds the ORDER BY."""

    def after(position: int) -> Any:
        column, part, value = columns[position], key[position], values[position]
        last = position == len(columns) - 1
        if value is None:
            # Nulls sort last: after a null only nulls remain.
            return column.is_(None) if last else and_(column.is_(None), after(position + 1))
        beyond = column < value if part.descending else column > value
        if part.nullable:
            beyond = or_(beyond, column.is_(None))
        if last:
            return beyond
        return or_(beyond, and_(column == value, after(position + 1)))

    return query.where(after(0))
