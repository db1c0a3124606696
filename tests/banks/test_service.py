"""Bank service: create/update/list, entries by hash and by image, disable/delete, paging, audit events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.errors import BankEntryNotFound, BankExists, BankNotFound
from moderation.banks.service import FOREVER, STAY_DOWN_BANK, banks
from moderation.exceptions import ModerationError
from moderation.hashing.types import InvalidHash
from moderation.models.bank_change import BankChange
from tests.factories import image_bytes, random_pdq


def _actions(session: Session) -> list[str]:
    return [e.action for e in reversed(audit.page(session, limit=1000))]


def test_create_bank_with_defaults_and_custom_thresholds(session: Session) -> None:
    bank = banks.create(session, name="ncii", action="block", thresholds={"pdq": 24}, actor="test")
    assert bank.thresholds == {"pdq": 24, "phash": 10, "dhash": 10}
    assert bank.enabled and not bank.match_rotations
    session.commit()
    assert [b.name for b in banks.all(session)] == ["ncii"]
    assert _actions(session) == ["bank.create"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "bad name"}, "invalid_bank_name"),
        ({"name": "x", "action": "delete"}, "invalid_action"),
        ({"name": "x", "thresholds": {"pdq": 300}}, "invalid_threshold"),
        ({"name": "x", "thresholds": {"md5": 1}}, "invalid_threshold"),
        ({"name": "x", "thresholds": {"pdq": "31"}}, "invalid_threshold"),
    ],
)
def test_create_refuses_bad_settings(session: Session, kwargs: dict, code: str) -> None:
    with pytest.raises(ModerationError) as caught:
        banks.create(session, **kwargs, actor="test")
    assert caught.value.code == code
    assert caught.value.status == 422


def test_duplicate_name_is_a_conflict(session: Session) -> None:
    banks.create(session, name="dup", actor="test")
    with pytest.raises(BankExists):
        banks.create(session, name="dup", actor="test")


def test_update_records_only_changed_fields(session: Session) -> None:
    banks.create(session, name="b", actor="test")
    bank = banks.update(
        session, "b", action="review", thresholds={"phash": 8}, enabled=False, actor="admin:x"
    )
    assert (bank.action, bank.enabled, bank.thresholds["phash"], bank.thresholds["pdq"]) == (
        "review",
        False,
        8,
        31,
    )
    banks.update(session, "b", action="review", actor="admin:x")  # no change, no event
    session.commit()
    events = audit.for_subject(session, "bank", "b")
    assert [e.action for e in events] == ["bank.create", "bank.update"]
    assert events[1].details["action"] == {"from": "block", "to": "review"}
    assert events[1].actor == "admin:x"
    with pytest.raises(BankNotFound):
        banks.update(session, "missing", enabled=True, actor="x")


def test_stay_down_bank_is_created_once(session: Session) -> None:
    first = banks.ensure_stay_down_bank(session)
    second = banks.ensure_stay_down_bank(session)
    assert first.id == second.id
    assert (first.name, first.action, first.match_rotations) == (STAY_DOWN_BANK, "block", True)


def test_add_hashes_validates_every_value_before_adding(session: Session) -> None:
    banks.create(session, name="b", actor="test")
    rng = random.Random(1)
    with pytest.raises(InvalidHash) as caught:
        banks.add_hashes(session, "b", [("pdq", random_pdq(rng)), ("pdq", "xyz")], source="upload", actor="t")
    assert caught.value.code == "invalid_hash" and caught.value.details["index"] == 1
    with pytest.raises(ModerationError) as caught:
        banks.add_hashes(session, "b", [("pdq", random_pdq(rng))], source="somewhere", actor="t")
    assert caught.value.code == "invalid_source"
    entries = banks.add_hashes(
        session,
        "b",
        [("PDQ", random_pdq(rng).upper()), ("md5", "A" * 32)],
        source="import:te",
        note="shared list",
        metadata={"case": 7},
        actor="t",
    )
    assert [(e.hash_type, e.variant, e.parent_id, e.source) for e in entries] == [
        ("pdq", "plain", None, "import:te"),
        ("md5", "plain", None, "import:te"),
    ]
    assert (
        entries[1].value == "a" * 32 and entries[0].meta == {"case": 7} and entries[0].note == "shared list"
    )
    assert entries[1].id == entries[0].id + 1
    session.commit()
    assert _actions(session)[-1] == "bank.entries_add"


def test_add_image_stores_companions_and_robust_variants_not_the_image(session: Session) -> None:
    banks.create(session, name="b", actor="test")
    data = image_bytes(3)
    entries = banks.add_image(session, "b", data, note="n", metadata={"ticket": "T-1"}, actor="t")
    top, rows = entries[0], entries[1:]
    assert (top.hash_type, top.variant, top.parent_id) == ("pdq", "plain", None)
    assert top.meta["ticket"] == "T-1" and top.meta["pdq_quality"] >= 50
    assert {r.parent_id for r in rows} == {top.id}
    kinds = {(r.hash_type, r.variant) for r in rows}
    assert {("sha256", "plain"), ("md5", "plain"), ("phash", "plain"), ("dhash", "plain")} <= kinds
    variants = {r.variant for r in rows if r.hash_type == "pdq"}
    assert {"rotate90", "flip_y"} <= variants
    assert any(v.startswith("crop_") for v in variants)
    assert all(data.hex() not in str(r.meta) for r in entries)
    session.commit()
    assert _actions(session)[-1] == "bank.entry_add_image"


def test_add_image_refuses_non_images_with_the_intake_code(session: Session) -> None:
    banks.create(session, name="b", actor="test")
    with pytest.raises(ModerationError) as caught:
        banks.add_image(session, "b", b"%PDF-1.4 not an image", actor="t")
    assert caught.value.code == "unsupported_format"
    with pytest.raises(ModerationError) as caught:
        banks.add_image(session, "b", b"", actor="t")
    assert caught.value.code == "empty_image"


def test_disable_enable_and_delete_entry(session: Session) -> None:
    banks.create(session, name="b", actor="test")
    top = banks.add_image(session, "b", image_bytes(4), actor="t")[0]
    until = datetime(2030, 1, 1, tzinfo=UTC)
    entry = banks.disable_entry(session, top.id, until=until, bank_name="b", actor="admin:a")
    assert entry.disabled_until == until
    assert all(r.disabled_until == until for r in banks.entry_rows(session, entry))
    entry = banks.disable_entry(session, top.id, actor="admin:a")
    assert entry.disabled_until == FOREVER
    entry = banks.enable_entry(session, top.id, actor="admin:a")
    assert entry.disabled_until is None
    child = banks.entry_rows(session, entry)[0]
    with pytest.raises(ModerationError) as caught:
        banks.disable_entry(session, child.id, actor="admin:a")
    assert caught.value.code == "bank_entry_is_variant"
    banks.delete_entry(session, top.id, bank_name="b", actor="admin:a")
    with pytest.raises(BankEntryNotFound):
        banks.get_entry(session, top.id)
    assert banks.entry_rows(session, top) == []
    session.commit()
    assert _actions(session)[-4:] == [
        "bank.entry_disable",
        "bank.entry_disable",
        "bank.entry_enable",
        "bank.entry_delete",
    ]
    kinds = [c.kind for c in session.scalars(select(BankChange).order_by(BankChange.seq))]
    assert kinds == [
        "bank_upsert",
        "entries_added",
        "entries_updated",
        "entries_updated",
        "entries_updated",
        "entries_removed",
    ]


def test_entry_of_another_bank_is_not_found(session: Session) -> None:
    banks.create(session, name="a", actor="t")
    banks.create(session, name="b", actor="t")
    entry = banks.add_hashes(session, "a", [("pdq", "0" * 64)], source="upload", actor="t")[0]
    with pytest.raises(BankEntryNotFound):
        banks.delete_entry(session, entry.id, bank_name="b", actor="t")


def test_keyset_paging_walks_every_entry_once(session: Session) -> None:
    banks.create(session, name="b", actor="t")
    banks.create(session, name="other", actor="t")
    rng = random.Random(2)
    values = [random_pdq(rng) for _ in range(23)]
    banks.add_hashes(session, "b", [("pdq", v) for v in values[:10]], source="upload", actor="t")
    banks.add_hashes(session, "other", [("pdq", random_pdq(rng))], source="upload", actor="t")
    banks.add_hashes(session, "b", [("pdq", v) for v in values[10:]], source="upload", actor="t")
    banks.add_image(session, "b", image_bytes(5), actor="t")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = banks.list_entries(session, "b", after=after, limit=5)
        seen.extend(e.value for e in page.items)
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    assert seen[:23] == values and len(seen) == 24 and pages == 5
    with_variants = banks.list_entries(session, "b", limit=1000, include_variants=True)
    assert len(with_variants.items) > 24
    only = banks.list_entries(session, "b", value=values[7].upper(), hash_type="pdq")
    assert [e.value for e in only.items] == [values[7]]


def test_search_by_value_across_banks(session: Session) -> None:
    banks.create(session, name="a", actor="t")
    banks.create(session, name="b", actor="t")
    value = "ab" * 32
    banks.add_hashes(session, "a", [("pdq", value)], source="upload", actor="t")
    banks.add_hashes(session, "b", [("pdq", value), ("pdq", "cd" * 32)], source="upload", actor="t")
    found = banks.search_entries(session, "pdq", value.upper())
    assert sorted(name for _, name in found) == ["a", "b"]
    with pytest.raises(InvalidHash):
        banks.search_entries(session, "pdq", "12")


def test_disable_until_must_be_aware(session: Session) -> None:
    banks.create(session, name="b", actor="t")
    entry = banks.add_hashes(session, "b", [("pdq", "0" * 64)], source="upload", actor="t")[0]
    with pytest.raises(ModerationError) as caught:
        banks.disable_entry(session, entry.id, until=datetime(2030, 1, 1) + timedelta(0), actor="t")
    assert caught.value.code == "invalid_until"


def test_text_fields_survive_the_bulk_insert_path(session: Session) -> None:
    banks.create(session, name="b", actor="t")
    note = 'tab\there, back\\slash,\nnew line, quote " and \\N'
    meta = {"path": "C:\\dir\\file", "text": "a\tb\nc", "n": None}
    entry = banks.add_hashes(
        session,
        "b",
        [("pdq", "0" * 64)],
        source="import:we\\ird",
        note=note,
        metadata=meta,
        actor="cli:o'\tx",
    )[0]
    session.expire_all()
    stored = banks.get_entry(session, entry.id)
    assert (stored.note, stored.meta, stored.source, stored.added_by) == (
        note,
        meta,
        "import:we\\ird",
        "cli:o'\tx",
    )
    assert stored.created_at.tzinfo is not None
