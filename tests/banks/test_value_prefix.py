"""The integer `value_prefix` key: its rule, lookups by value, import de-duplication and the migration
that adds it to a database already holding entries."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.repository import value_prefixes
from moderation.banks.service import banks
from moderation.db import make_engine, session_factory
from moderation.kit import migrations
from moderation.models.bank_entry import BankEntry, value_prefix
from tests.conftest import PG_URL
from tests.factories import image_bytes, random_pdq

PREVIOUS_HEAD = "0009_check_seals_review_copies"


def test_prefix_is_the_first_eight_bytes_as_a_signed_big_endian_integer() -> None:
    assert value_prefix("00000000000000ff" + "0" * 48) == 255
    assert value_prefix("ffffffffffffffff" + "1" * 48) == -1
    assert value_prefix("8000000000000000") == -(2**63)
    assert value_prefix("7fffffffffffffff") == 2**63 - 1
    rng = random.Random(1)
    values = [random_pdq(rng) for _ in range(50)] + [f"{rng.getrandbits(64):016x}" for _ in range(50)]
    assert value_prefixes(values) == [value_prefix(v) for v in values]
    assert value_prefixes([]) == []


def test_every_insert_path_stores_the_prefix(session: Session) -> None:
    banks.create(session, name="p", actor="t")
    rng = random.Random(2)
    banks.add_hashes(session, "p", [("pdq", random_pdq(rng)), ("md5", "ab" * 16)], source="upload", actor="t")
    banks.add_image(session, "p", image_bytes(3), actor="t")
    banks.import_lines(
        session,
        "p",
        ["pdq," + random_pdq(rng) + ",\n", "dhash,0123456789abcdef,\n"],
        fmt="csv",
        source="import:x",
        actor="t",
    )
    session.commit()
    rows = session.execute(select(BankEntry.hash_type, BankEntry.value, BankEntry.value_prefix)).all()
    assert len(rows) > 10
    assert {t for t, _, _ in rows} >= {"pdq", "md5", "sha256", "phash", "dhash"}
    assert all(p == value_prefix(v) for _, v, p in rows)


def test_lookups_by_value_use_prefix_and_value(session: Session) -> None:
    banks.create(session, name="a", actor="t")
    banks.create(session, name="b", actor="t")
    rng = random.Random(4)
    target = random_pdq(rng)
    # Same first 16 hex digits, different value: the prefix alone must not match it.
    sibling = target[:16] + ("0" if target[16] != "0" else "1") + target[17:]
    banks.add_hashes(session, "a", [("pdq", target), ("pdq", sibling)], source="upload", actor="t")
    banks.add_hashes(session, "b", [("pdq", target.upper())], source="upload", actor="t")
    banks.add_hashes(session, "b", [("pdq", random_pdq(rng))], source="upload", actor="t")
    found = banks.search_entries(session, "pdq", target)
    assert sorted(name for _, name in found) == ["a", "b"]
    assert all(entry.value == target for entry, _ in found)
    assert [e.value for e in banks.list_entries(session, "a", value=sibling).items] == [sibling]
    assert banks.search_entries(session, "sha256", target) == []


def test_import_skips_values_the_bank_or_the_file_already_holds(session: Session) -> None:
    banks.create(session, name="d", actor="t")
    banks.create(session, name="other", actor="t")
    rng = random.Random(5)
    held = [random_pdq(rng) for _ in range(3)]
    fresh = [random_pdq(rng) for _ in range(4)]
    banks.add_hashes(session, "d", [("pdq", v) for v in held], source="upload", actor="t")
    banks.add_hashes(session, "other", [("pdq", fresh[0])], source="upload", actor="t")
    lines = [v + "\n" for v in [*held, *fresh, fresh[1].upper(), "zz", held[0]]]
    report = banks.import_lines(session, "d", lines, fmt="pdq-hex", source="import:d", actor="t")
    assert (report.lines, report.imported, report.skipped, report.duplicates) == (10, 4, 1, 5)
    values = [e.value for e in banks.list_entries(session, "d", limit=100).items]
    assert sorted(values) == sorted(held + fresh)
    # Batches are checked against rows an earlier batch of the same import wrote.
    again = [random_pdq(rng) for _ in range(5)]
    report = banks.import_lines(
        session, "d", [v + "\n" for v in again * 3], fmt="pdq-hex", source="import:d", actor="t"
    )
    assert (report.imported, report.duplicates) == (5, 10)
    session.commit()
    event = audit.page(session, action="bank.import", limit=1)[0]
    assert event.details["duplicates"] == 10


def test_keep_duplicates_imports_every_valid_line(session: Session) -> None:
    banks.create(session, name="k", actor="t")
    value = random_pdq(random.Random(6))
    banks.add_hashes(session, "k", [("pdq", value)], source="upload", actor="t")
    report = banks.import_lines(
        session, "k", [value + "\n"] * 3, fmt="pdq-hex", source="import:k", actor="t", keep_duplicates=True
    )
    assert (report.imported, report.duplicates) == (3, 0)
    assert len(banks.search_entries(session, "pdq", value)) == 4


def test_duplicate_check_spans_batches(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from moderation.banks import service as service_module

    monkeypatch.setattr(service_module, "IMPORT_BATCH", 7)
    banks.create(session, name="s", actor="t")
    rng = random.Random(7)
    values = [random_pdq(rng) for _ in range(20)]
    lines = [v + "\n" for v in values + values[::-1]]
    report = banks.import_lines(session, "s", lines, fmt="pdq-hex", source="import:s", actor="t")
    assert (report.imported, report.duplicates) == (20, 20)


def test_import_ids_follow_the_file_and_the_first_of_repeated_lines_wins(session: Session) -> None:
    """Both import paths (batch by batch on SQLite, staged on PostgreSQL): entry ids in file order, a
    repeated value keeps its first line's metadata, and the range is the one the report gives."""
    banks.create(session, name="o", actor="t")
    rng = random.Random(8)
    values = [random_pdq(rng) for _ in range(6)]
    lines = ["hash_type,value,metadata\n"] + [
        f'pdq,{v},"{{""n"": {n}}}"\n' for n, v in enumerate([*values, values[2], values[0]])
    ]
    report = banks.import_lines(session, "o", lines, fmt="csv", source="import:o", actor="t")
    assert (report.imported, report.duplicates) == (6, 2)
    assert report.first_entry_id is not None and report.last_entry_id == report.first_entry_id + 5
    rows = session.scalars(
        select(BankEntry).where(BankEntry.id.between(report.first_entry_id, report.last_entry_id))
    ).all()
    by_id = sorted(rows, key=lambda e: e.id)
    assert [e.value for e in by_id] == values
    assert [e.meta for e in by_id] == [{"n": n} for n in range(6)]
    assert all(e.value_prefix == value_prefix(e.value) for e in by_id)


def _scratch_url(tmp_path_str: str) -> tuple[str, object]:
    """A separate empty database: a SQLite file, or a PostgreSQL database beside the test one."""
    if not PG_URL:
        return f"sqlite:///{tmp_path_str}/upgrade.db", None
    url = make_url(PG_URL)
    scratch = url.set(database=f"{url.database}_upgrade")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{scratch.database}"'))
    return scratch.render_as_string(hide_password=False), admin


def test_migration_backfills_existing_entries_and_lookups_work(tmp_path: object) -> None:
    url, admin = _scratch_url(str(tmp_path))
    try:
        migrations.upgrade(url, PREVIOUS_HEAD)
        engine = create_engine(url)
        rng = random.Random(8)
        rows = [("pdq", random_pdq(rng)) for _ in range(30)]
        rows += [("dhash", f"{rng.getrandbits(64):016x}"), ("md5", "cd" * 16), ("sha256", "ef" * 32)]
        rows.append(("pdq", "8" + "0" * 63))  # a negative prefix
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO banks (id, name, action, thresholds, match_rotations, enabled, created_by,"
                    " created_at) VALUES (1, 'old', 'block', '{}', false, true, 't', '2026-11-23 10:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO bank_entries (id, bank_id, hash_type, value, variant, source, added_by,"
                    " created_at) VALUES (:id, 1, :t, :v, 'plain', 'upload', 't', '2026-11-23 10:00:00')"
                ),
                [{"id": i, "t": t, "v": v} for i, (t, v) in enumerate(rows, start=1)],
            )
            connection.execute(
                text("UPDATE bank_counters SET value = :n WHERE name = 'entry'"), {"n": len(rows)}
            )
        engine.dispose()
        migrations.upgrade(url)

        engine = make_engine(url)
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("bank_entries")}
        assert "ix_bank_entries_bank_id_hash_type_value_prefix" in indexes
        assert "ix_bank_entries_value" not in indexes
        with session_factory(engine)() as session:
            stored = session.execute(select(BankEntry.value, BankEntry.value_prefix)).all()
            assert len(stored) == len(rows)
            assert all(p == value_prefix(v) for v, p in stored)
            for hash_type, value in rows:
                found = banks.search_entries(session, hash_type, value)
                assert [(e.value, name) for e, name in found] == [(value, "old")]
            report = banks.import_lines(
                session,
                "old",
                [v + "\n" for t, v in rows if t == "pdq"],
                fmt="pdq-hex",
                source="import:again",
                actor="t",
            )
            assert (report.imported, report.duplicates) == (0, 31)
        engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as connection:  # type: ignore[attr-defined]
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
            admin.dispose()  # type: ignore[attr-defined]
