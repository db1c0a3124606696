"""SQL of the banks feature: banks, entries (bulk inserts included), counters and the change log."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from moderation.models.bank import Bank
from moderation.models.bank_change import BankChange
from moderation.models.bank_counter import BankCounter
from moderation.models.bank_entry import BankEntry, value_prefix

CHANGE_COUNTER = "change"
ENTRY_COUNTER = "entry"
# SQLite page cache (KiB) while importing: holds the `value` index of a few million entries.
IMPORT_CACHE_KIB = 512 * 1024

# Column order of `EntryRow` tuples handed to `insert_entry_rows`.
ENTRY_COLUMNS: tuple[str, ...] = (
    "id",
    "bank_id",
    "hash_type",
    "value",
    "variant",
    "parent_id",
    "metadata",
    "note",
    "source",
    "disabled_until",
    "added_by",
    "created_at",
)
EntryRow = tuple[Any, ...]
# Columns written by the bulk paths: the row's columns, then `value_prefix` computed from `value`.
INSERT_COLUMNS: tuple[str, ...] = (*ENTRY_COLUMNS, "value_prefix")
# Prefixes per lookup statement when checking an import batch for values the bank already holds.
LOOKUP_CHUNK = 5_000


class BankRepository:
    # --- counters and the change log ------------------------------------------------------------

    def bump_counter(self, session: Session, name: str, by: int = 1) -> int:
        """Add `by` to a counter and return its new value. The row stays locked until the transaction
        ends, so transactions that bump the same counter commit in counter order."""
        statement = (
            update(BankCounter)
            .where(BankCounter.name == name)
            .values(value=BankCounter.value + by)
            .returning(BankCounter.value)
        )
        value = session.execute(statement).scalar_one_or_none()
        if value is None:
            # The row is missing (a wiped test database): create it, then bump under its lock.
            dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(dialect_insert(BankCounter).values(name=name, value=0).on_conflict_do_nothing())
            value = session.execute(statement).scalar_one()
        return int(value)

    def log_change(
        self,
        session: Session,
        *,
        seq: int,
        occurred_at: datetime,
        kind: str,
        bank_id: int,
        first_entry_id: int | None = None,
        last_entry_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        session.execute(
            insert(BankChange).values(
                seq=seq,
                occurred_at=occurred_at,
                kind=kind,
                bank_id=bank_id,
                first_entry_id=first_entry_id,
                last_entry_id=last_entry_id,
                details=details or {},
            )
        )

    # --- banks ------------------------------------------------------------------------------------

    def add_bank(self, session: Session, bank: Bank) -> Bank:
        session.add(bank)
        session.flush()
        return bank

    def bank_by_name(self, session: Session, name: str) -> Bank | None:
        return session.scalars(select(Bank).where(Bank.name == name)).first()

    def bank_by_id(self, session: Session, bank_id: int) -> Bank | None:
        return session.get(Bank, bank_id)

    def list_banks(self, session: Session) -> list[Bank]:
        return list(session.scalars(select(Bank).order_by(Bank.name)).all())

    def count_entries(self, session: Session, bank_id: int) -> int:
        statement = (
            select(func.count())
            .select_from(BankEntry)
            .where(BankEntry.bank_id == bank_id, BankEntry.parent_id.is_(None))
        )
        return int(session.execute(statement).scalar_one())

    # --- entries ----------------------------------------------------------------------------------

    def insert_entry_rows(self, session: Session, rows: Sequence[EntryRow]) -> None:
        """Insert many entries at once: COPY on PostgreSQL, executemany on SQLite.

        Rows are tuples in `ENTRY_COLUMNS` order with ids already allocated; `metadata` is a dict or
        None. This bypasses the ORM on purpose: it is the bulk import path (100,000+ rows/s), where
        per-row Python work dominates, so repeated values (timestamps, source, actor) are converted once."""
        if not rows:
            return
        connection = session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql":
            # Ids, types, values and variants are canonical (digits, hex, known names): no escaping.
            field = _Memo(_copy_text)
            text_rows = "".join(
                f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{field(r[5])}\t"
                f"{_copy_text(_json(r[6]))}\t{field(r[7])}\t{field(r[8])}\t{field(r[9])}\t{field(r[10])}\t"
                f"{field(r[11])}\t{value_prefix(r[3])}\n"
                for r in rows
            )
            raw = connection.connection.driver_connection
            columns = ", ".join(f'"{c}"' for c in INSERT_COLUMNS)
            with raw.cursor() as cursor, cursor.copy(f"COPY bank_entries ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
                copy.write(text_rows)
            return
        table = BankEntry.__table__
        to_db = table.c["created_at"].type.bind_processor(dialect)
        timestamp = _Memo(to_db) if to_db is not None else None
        prepared = [
            row
            if timestamp is None and row[6] is None
            else (
                *row[:6],
                _json(row[6]),
                *row[7:9],
                timestamp(row[9]) if timestamp and row[9] is not None else row[9],
                row[10],
                timestamp(row[11]) if timestamp else row[11],
            )
            for row in rows
        ]
        placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO bank_entries ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders})",
            [(*row, value_prefix(row[3])) for row in prepared],
        )

    def insert_plain_entries(
        self,
        session: Session,
        *,
        first_id: int,
        bank_id: int,
        hash_types: Sequence[str],
        values: Sequence[str],
        prefixes: Sequence[int],
        metas: Sequence[dict[str, Any] | None] | None,
        note: str | None,
        source: str,
        actor: str,
        created_at: datetime,
    ) -> None:
        """Insert top-level `plain` entries with ids `first_id, first_id + 1, ...` (the import path).

        Columns are given separately and the constant ones once, so rows are assembled by `zip` in C
        (SQLite executemany) or one f-string each (PostgreSQL COPY) rather than tuple by tuple.
        `prefixes` are the values' `value_prefix` (see `value_prefixes`)."""
        count = len(values)
        if not count:
            return
        connection = session.connection()
        dialect = connection.dialect
        meta_json: Iterable[str | None] = map(_json, metas) if metas is not None else itertools.repeat(None)
        if dialect.name == "postgresql":
            # Ids, hash types and canonical values are digits, hex and known names: no escaping needed.
            middle = f"\t{bank_id}\t"
            before_meta = "\tplain\t\\N\t"
            after_meta = (
                f"\t{_copy_text(note)}\t{_copy_text(source)}\t\\N\t{_copy_text(actor)}\t"
                f"{_copy_text(created_at)}\t"
            )
            if metas is None:
                constant = f"{before_meta}\\N{after_meta}"
                text_rows = "".join(
                    f"{i}{middle}{t}\t{v}{constant}{p}\n"
                    for i, t, v, p in zip(
                        itertools.count(first_id), hash_types, values, prefixes, strict=False
                    )
                )
            else:
                text_rows = "".join(
                    f"{i}{middle}{t}\t{v}{before_meta}{_copy_text(m)}{after_meta}{p}\n"
                    for i, t, v, m, p in zip(
                        itertools.count(first_id), hash_types, values, meta_json, prefixes, strict=False
                    )
                )
            raw = connection.connection.driver_connection
            columns = ", ".join(f'"{c}"' for c in INSERT_COLUMNS)
            with raw.cursor() as cursor, cursor.copy(f"COPY bank_entries ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
                copy.write(text_rows)
            return
        # The column type's own processor for this dialect: the same text the ORM writes, made once.
        column_type = BankEntry.__table__.c["created_at"].type
        to_db = column_type.dialect_impl(dialect).bind_processor(dialect)
        stamp = to_db(created_at) if to_db is not None else created_at
        rows = zip(
            itertools.count(first_id),
            itertools.repeat(bank_id),
            hash_types,
            values,
            itertools.repeat("plain"),
            itertools.repeat(None),
            meta_json,
            itertools.repeat(note),
            itertools.repeat(source),
            itertools.repeat(None),
            itertools.repeat(actor),
            itertools.repeat(stamp),
            prefixes,
        )
        placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                f"INSERT INTO bank_entries ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders})", rows
            )
        finally:
            cursor.close()

    def existing_values(
        self, session: Session, bank_id: int, hash_type: str, prefixes: Sequence[int]
    ) -> set[str]:
        """Values of `hash_type` the bank already holds (any row) among those starting with `prefixes`:
        one index probe per prefix, the whole list passed as a single array/JSON parameter."""
        found: set[str] = set()
        if not prefixes:
            return found
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        # One bound parameter however long the list. On PostgreSQL each prefix is an equality probe in
        # a lateral subquery kept apart by OFFSET 0: with `= ANY(array)` or a flattened join, the
        # planner, lacking statistics in the middle of a large import, filtered every row of the bank
        # matched by (bank_id, hash_type) instead of descending the index per prefix.
        statement = (
            "SELECT e.value FROM unnest(%(prefixes)s::bigint[]) AS p(prefix) CROSS JOIN LATERAL ("
            "SELECT value FROM bank_entries WHERE bank_id = %(bank_id)s AND hash_type = %(hash_type)s"
            " AND value_prefix = p.prefix OFFSET 0) AS e"
            if postgres
            else "SELECT value FROM bank_entries WHERE bank_id = :bank_id AND hash_type = :hash_type"
            " AND value_prefix IN (SELECT value FROM json_each(:prefixes))"
        )
        unique = sorted(set(prefixes))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            parameter: Any = chunk if postgres else json.dumps(chunk)
            rows = connection.exec_driver_sql(
                statement, {"bank_id": bank_id, "hash_type": hash_type, "prefixes": parameter}
            )
            found.update(row[0] for row in rows)
        return found

    def stages_imports(self, session: Session) -> bool:
        """Whether imports go through `ImportStaging` (PostgreSQL) rather than batch by batch."""
        return session.connection().dialect.name == "postgresql"

    def import_staging(self, session: Session) -> ImportStaging:
        """A staging table for one import, in this transaction (PostgreSQL only)."""
        return ImportStaging(session)

    @contextlib.contextmanager
    def bulk_mode(self, session: Session) -> Iterator[None]:
        """During a large import on SQLite, a page cache big enough for the prefix index's random
        inserts (the default 2 MiB thrashes); restored afterwards since the connection is pooled."""
        connection = session.connection()
        if connection.dialect.name != "sqlite":
            yield
            return
        previous = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
        connection.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"PRAGMA cache_size={int(previous)}")

    def entries_by_ids(self, session: Session, ids: Sequence[int]) -> list[BankEntry]:
        return list(
            session.scalars(select(BankEntry).where(BankEntry.id.in_(ids)).order_by(BankEntry.id)).all()
        )

    def entry(self, session: Session, entry_id: int) -> BankEntry | None:
        return session.get(BankEntry, entry_id)

    def children(self, session: Session, parent_id: int) -> list[BankEntry]:
        statement = select(BankEntry).where(BankEntry.parent_id == parent_id).order_by(BankEntry.id)
        return list(session.scalars(statement).all())

    def set_disabled_until(self, session: Session, entry_id: int, until: datetime | None) -> None:
        session.execute(
            update(BankEntry)
            .where(or_(BankEntry.id == entry_id, BankEntry.parent_id == entry_id))
            .values(disabled_until=until)
            .execution_options(synchronize_session="fetch")
        )

    def delete_entry_with_children(self, session: Session, entry_id: int) -> None:
        session.execute(
            delete(BankEntry)
            .where(or_(BankEntry.id == entry_id, BankEntry.parent_id == entry_id))
            .execution_options(synchronize_session="fetch")
        )

    def page_entries(
        self,
        session: Session,
        bank_id: int,
        *,
        after: int | None,
        limit: int,
        hash_type: str | None = None,
        value: str | None = None,
        include_variants: bool = False,
    ) -> list[BankEntry]:
        """Keyset page in id order: `after` is the last id of the previous page."""
        statement = select(BankEntry).where(BankEntry.bank_id == bank_id)
        if after is not None:
            statement = statement.where(BankEntry.id > after)
        if not include_variants:
            statement = statement.where(BankEntry.parent_id.is_(None))
        if hash_type is not None:
            statement = statement.where(BankEntry.hash_type == hash_type)
        if value is not None:
            statement = statement.where(
                BankEntry.value_prefix == value_prefix(value), BankEntry.value == value
            )
        return list(session.scalars(statement.order_by(BankEntry.id).limit(limit)).all())

    def find_by_value(
        self, session: Session, hash_type: str, value: str, limit: int
    ) -> list[tuple[BankEntry, str]]:
        """Entries holding exactly this value (any bank, variants included), with their bank's name.

        Banks are few: naming their ids lets each be probed in the (bank_id, hash_type, value_prefix)
        index (without the list, SQLite's planner may scan every entry in id order instead)."""
        bank_ids = list(session.scalars(select(Bank.id)).all())
        statement = (
            select(BankEntry, Bank.name)
            .join(Bank, Bank.id == BankEntry.bank_id)
            .where(
                BankEntry.bank_id.in_(bank_ids),
                BankEntry.hash_type == hash_type,
                BankEntry.value_prefix == value_prefix(value),
                BankEntry.value == value,
            )
            .order_by(BankEntry.id)
            .limit(limit)
        )
        return [(entry, name) for entry, name in session.execute(statement).all()]

    def iter_export_rows(
        self, session: Session, bank_id: int, batch: int = 10_000
    ) -> Iterator[tuple[int, str, str, Any]]:
        """(id, hash_type, value, metadata) of a bank's exportable rows: every `plain` row (top-level
        entries and the companion hashes of image entries), never robust variants, in id order."""
        after = 0
        while True:
            statement = (
                select(BankEntry.id, BankEntry.hash_type, BankEntry.value, BankEntry.meta)
                .where(BankEntry.bank_id == bank_id, BankEntry.id > after, BankEntry.variant == "plain")
                .order_by(BankEntry.id)
                .limit(batch)
            )
            rows = session.execute(statement).all()
            if not rows:
                return
            for row in rows:
                yield int(row[0]), row[1], row[2], row[3]
            after = int(rows[-1][0])


def value_prefixes(values: Sequence[str]) -> list[int]:
    """`value_prefix` of many canonical hex values at once (one hex decode for the whole list)."""
    if not values:
        return []
    raw = bytes.fromhex("".join([v[:16] for v in values]))
    return np.frombuffer(raw, dtype=">i8").tolist()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _with_json(row: EntryRow) -> EntryRow:
    if row[6] is None:
        return row
    return (*row[:6], _json(row[6]), *row[7:])


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One field in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return str(value).translate(_COPY_ESCAPES)


class _Memo:
    """Converts values through `function`, remembering the last few hundred distinct results."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self.cache: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        try:
            return self.cache[value]
        except KeyError:
            result = self.function(value)
            if len(self.cache) < 512:
                self.cache[value] = result
            return result
        except TypeError:  # unhashable
            return self.function(value)


bank_repository = BankRepository()


# Memory PostgreSQL may use for the import's de-duplication (a sort or hash of the staged lines) before
# spilling to disk; set for the importing transaction only.
IMPORT_WORK_MEM = "256MB"


class ImportStaging:
    """A PostgreSQL import in three set-based steps, all in the caller's transaction: every valid line
    is streamed with COPY into a temporary table (`add`, one batch at a time, so memory stays flat),
    `deduplicate` keeps the first line of each (hash type, value) that the bank does not already hold,
    and `insert` writes those rows into `bank_entries` in one INSERT ... SELECT, with ids in file order.
    The temporary tables are dropped at commit or rollback."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.raw: Any = self.connection.connection.driver_connection
        self.lines = 0
        self.fresh = 0
        self.connection.exec_driver_sql(f"SET LOCAL work_mem = '{IMPORT_WORK_MEM}'")
        self.connection.exec_driver_sql(
            "DROP TABLE IF EXISTS bank_import_staging; DROP TABLE IF EXISTS bank_import_fresh"
        )
        self.connection.exec_driver_sql(
            # Byte-wise collation: the de-duplication sorts by value, and a locale-aware sort of hex
            # text costs several times a memcmp.
            'CREATE TEMPORARY TABLE bank_import_staging (line bigint NOT NULL, hash_type text COLLATE "C"'
            ' NOT NULL, value text COLLATE "C" NOT NULL, value_prefix bigint NOT NULL, metadata text)'
            " ON COMMIT DROP"
        )

    def add(
        self,
        hash_types: Sequence[str],
        values: Sequence[str],
        prefixes: Sequence[int],
        metas: Sequence[dict[str, Any] | None] | None,
    ) -> None:
        """COPY one batch of parsed (canonical) lines into the staging table."""
        first = self.lines
        self.lines += len(values)
        # Line numbers, hash type names, canonical hex values and integers need no COPY escaping.
        if metas is None:
            text_rows = "".join(
                f"{n}\t{t}\t{v}\t{p}\t\\N\n"
                for n, t, v, p in zip(itertools.count(first), hash_types, values, prefixes, strict=False)
            )
        else:
            text_rows = "".join(
                f"{n}\t{t}\t{v}\t{p}\t{_copy_text(_json(m))}\n"
                for n, t, v, p, m in zip(
                    itertools.count(first), hash_types, values, prefixes, metas, strict=False
                )
            )
        with (
            self.raw.cursor() as cursor,
            cursor.copy(
                "COPY bank_import_staging (line, hash_type, value, value_prefix, metadata) FROM STDIN"
            ) as copy,
        ):
            copy.write(text_rows)

    def deduplicate(self, bank_id: int, *, keep_duplicates: bool) -> int:
        """Keep the first staged line of each (hash type, value) the bank holds in no row (disabled and
        variant rows included); with `keep_duplicates`, every line. Returns how many rows remain."""
        self.connection.exec_driver_sql("ANALYZE bank_import_staging")
        if keep_duplicates:
            query = "SELECT line, hash_type, value, value_prefix, metadata FROM bank_import_staging"
        else:
            query = (
                "SELECT s.line, s.hash_type, s.value, s.value_prefix, s.metadata FROM ("
                " SELECT DISTINCT ON (hash_type, value) line, hash_type, value, value_prefix, metadata"
                " FROM bank_import_staging ORDER BY hash_type, value, line) AS s"
                " WHERE NOT EXISTS (SELECT 1 FROM bank_entries AS e WHERE e.bank_id = %(bank_id)s"
                " AND e.hash_type = s.hash_type AND e.value_prefix = s.value_prefix AND e.value = s.value)"
            )
        # Without statistics on a bank that grew since its last ANALYZE, the planner chose a merge anti
        # join that sorted every row of the bank by value (18 s against 4 s with a hash join, 300k lines
        # into a 1M bank): merge joins are off for this statement.
        self.connection.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        result = self.connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE bank_import_fresh ON COMMIT DROP AS {query}", {"bank_id": bank_id}
        )
        self.connection.exec_driver_sql("RESET enable_mergejoin")
        self.fresh = int(result.rowcount)
        return self.fresh

    def insert(
        self, *, first_id: int, bank_id: int, note: str | None, source: str, actor: str, created_at: datetime
    ) -> None:
        """Insert the de-duplicated rows with ids `first_id, first_id + 1, ...` in file order."""
        columns = ", ".join(f'"{c}"' for c in INSERT_COLUMNS)
        self.connection.exec_driver_sql(
            f"INSERT INTO bank_entries ({columns}) SELECT %(first)s + row_number() OVER (ORDER BY line) - 1,"
            " %(bank_id)s, hash_type, value, 'plain', NULL, metadata::jsonb, %(note)s, %(source)s, NULL,"
            " %(actor)s, %(created_at)s, value_prefix FROM bank_import_fresh",
            {
                "first": first_id,
                "bank_id": bank_id,
                "note": note,
                "source": source,
                "actor": actor,
                "created_at": created_at,
            },
        )
        self.connection.exec_driver_sql("DROP TABLE bank_import_staging; DROP TABLE bank_import_fresh")
