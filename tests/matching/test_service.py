"""Match service: robust stay-down matches, allow-list suppression, rotations, incremental refresh without
rebuild, a later instance loading the state, and equality with a brute-force scan."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from benchmarks.evaluation import TRANSFORMATIONS, encode, generate_image
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.hashing.intake import ImageLimits, decode_image
from moderation.hashing.robust import query_hashes
from moderation.hashing.types import InvalidHash
from moderation.kit.time import frozen_clock, utc_now
from moderation.matching.errors import MatchIndexUnavailable, TooManyHashes
from moderation.matching.service import MAX_HASHES_PER_QUERY, Match, MatchService
from tests.factories import flip, random_pdq

TRANSFORMS = {t.name: t for t in TRANSFORMATIONS}


@pytest.fixture
def matcher(engine: Engine) -> Iterator[MatchService]:
    service = MatchService()
    service.start(engine, refresh_seconds=60, background=False)
    yield service
    service.stop()


def _query(image: Image.Image, quality: int = 90) -> list[tuple[str, str]]:
    hashes = query_hashes(decode_image(encode(image, "JPEG", quality), ImageLimits()))
    return [("pdq", v) for v in hashes.pdq_values()]


def _image_entry(session: Session, bank: str, seed: int) -> int:
    entry = banks.add_image(session, bank, encode(generate_image(seed), "JPEG", 92), actor="t")[0]
    session.commit()
    return entry.id


def _entries(matches: list[Match]) -> set[int]:
    return {m.entry_id for m in matches if m.suppressed_by is None}


EDITS = (
    "jpeg_q50",
    "resize_0.5",
    "crop_3pc_right",
    "crop_5pc_top",
    "border_thin_white",
    "border_thick_black",
    "caption_bottom",
)


def test_image_entry_finds_edited_copies_with_their_distance(session: Session, matcher: MatchService) -> None:
    banks.create(session, name="block", actor="t")
    entry_id = _image_entry(session, "block", seed=11)
    _image_entry(session, "block", seed=12)  # a distinct image in the same bank
    matcher.refresh()
    for name in EDITS:
        edit = TRANSFORMS[name]
        matches = matcher.match(_query(edit.apply(generate_image(11)), edit.jpeg_quality))
        assert {m.entry_id for m in matches} == {entry_id}, name
        best = min(matches, key=lambda m: m.distance)
        assert 0 <= best.distance <= best.threshold == 31
        assert (best.bank, best.action, best.suppressed_by) == ("block", "block", None)
    assert not matcher.match(_query(generate_image(13)))


def test_allow_list_match_suppresses_other_banks_for_the_same_content(
    session: Session, matcher: MatchService
) -> None:
    banks.create(session, name="third-party", actor="t")
    banks.create(session, name="allow", action="allow", actor="t")
    value = random_pdq(random.Random(1))
    blocked = banks.add_hashes(session, "third-party", [("pdq", value)], source="import:x", actor="t")[0]
    other = random_pdq(random.Random(2))
    banks.add_hashes(session, "third-party", [("pdq", other)], source="import:x", actor="t")
    session.commit()
    matcher.refresh()
    assert [m.suppressed_by for m in matcher.match([("pdq", value)])] == [None]
    allowed = banks.add_hashes(
        session, "allow", [("pdq", flip(value, 3, random.Random(3)))], source="review", actor="t"
    )[0]
    session.commit()
    matcher.refresh()
    matches = matcher.match([("pdq", value)])
    by_bank = {m.bank: m for m in matches}
    assert by_bank["third-party"].entry_id == blocked.id
    assert by_bank["third-party"].suppressed_by == "allow"
    assert by_bank["allow"].entry_id == allowed.id and by_bank["allow"].action == "allow"
    assert by_bank["allow"].distance == 3
    # Suppression stays within a content label: another hash in its own group is still blocked.
    matches = matcher.match([("pdq", value), ("pdq", other)], groups=["a", "b"])
    assert [(m.query, m.suppressed_by) for m in matches if m.bank == "third-party"] == [
        (0, "allow"),
        (1, None),
    ]


def test_rotations_match_only_in_banks_that_ask_for_them(session: Session, matcher: MatchService) -> None:
    banks.create(session, name="plain", actor="t")
    banks.create(session, name="rot", match_rotations=True, actor="t")
    plain_id = _image_entry(session, "plain", seed=21)
    rot_id = _image_entry(session, "rot", seed=21)
    matcher.refresh()
    mirrored = _query(TRANSFORMS["mirror"].apply(generate_image(21)))
    matches = matcher.match(mirrored)
    assert {m.entry_id for m in matches} == {rot_id}
    assert matches[0].variant in {
        "flip_y",
        "flip_x",
        "rotate90",
        "rotate180",
        "rotate270",
        "flip_plus1",
        "flip_minus1",
    }
    banks.update(session, "plain", match_rotations=True, actor="t")
    session.commit()
    matcher.refresh()
    assert {m.entry_id for m in matcher.match(mirrored)} == {plain_id, rot_id}


def test_changes_apply_incrementally_without_rebuild(session: Session, matcher: MatchService) -> None:
    banks.create(session, name="b", actor="t")
    session.commit()
    matcher.refresh()
    index_before = matcher._indexes["pdq"]
    matcher._load = None  # type: ignore[assignment,method-assign]  # any rebuild would now fail
    value = random_pdq(random.Random(7))
    entry = banks.add_hashes(session, "b", [("pdq", value), ("md5", "e" * 32)], source="upload", actor="t")
    session.commit()
    assert matcher.match([("pdq", value)]) == []  # not yet refreshed
    assert matcher.refresh() == 1
    assert _entries(matcher.match([("pdq", value), ("md5", "E" * 32)])) == {entry[0].id, entry[1].id}

    banks.disable_entry(session, entry[0].id, actor="t")
    session.commit()
    matcher.refresh()
    assert _entries(matcher.match([("pdq", value)])) == set()
    banks.enable_entry(session, entry[0].id, actor="t")
    session.commit()
    matcher.refresh()
    assert _entries(matcher.match([("pdq", value)])) == {entry[0].id}

    with frozen_clock(utc_now()):
        banks.disable_entry(session, entry[0].id, until=utc_now() + timedelta(hours=1), actor="t")
        session.commit()
        matcher.refresh()
        assert matcher.match([("pdq", value)]) == []
    with frozen_clock(utc_now() + timedelta(hours=2)):
        assert _entries(matcher.match([("pdq", value)])) == {entry[0].id}  # the disable expired
    banks.enable_entry(session, entry[0].id, actor="t")

    banks.update(session, "b", thresholds={"pdq": 10}, actor="t")
    session.commit()
    matcher.refresh()
    near = flip(value, 12, random.Random(8))
    assert matcher.match([("pdq", near)]) == []
    banks.update(session, "b", thresholds={"pdq": 12}, actor="t")
    session.commit()
    matcher.refresh()
    assert [m.distance for m in matcher.match([("pdq", near)])] == [12]

    banks.update(session, "b", enabled=False, actor="t")
    session.commit()
    matcher.refresh()
    assert matcher.match([("pdq", value)]) == []
    banks.update(session, "b", enabled=True, actor="t")
    banks.delete_entry(session, entry[1].id, actor="t")
    banks.delete_entry(session, entry[0].id, actor="t")
    session.commit()
    matcher.refresh()
    assert matcher.match([("pdq", value), ("md5", "e" * 32)]) == []
    assert matcher._indexes["pdq"] is index_before
    assert matcher.status()["entries"] == 0


def test_a_matcher_started_later_loads_the_current_state(session: Session, engine: Engine) -> None:
    banks.create(session, name="b", actor="t")
    rng = random.Random(9)
    values = [random_pdq(rng) for _ in range(50)]
    entries = banks.add_hashes(session, "b", [("pdq", v) for v in values], source="upload", actor="t")
    banks.delete_entry(session, entries[0].id, actor="t")
    banks.disable_entry(session, entries[1].id, actor="t")
    image_id = _image_entry(session, "b", seed=31)
    later = MatchService()
    later.start(engine, background=False)
    try:
        assert later.status()["entries"] == 50  # 49 bare hashes and the image entry
        assert later.match([("pdq", values[0])]) == [] and later.match([("pdq", values[1])]) == []
        assert _entries(later.match([("pdq", values[2])])) == {entries[2].id}
        assert _entries(later.match(_query(TRANSFORMS["crop_2pc_all"].apply(generate_image(31))))) == {
            image_id
        }
    finally:
        later.stop()


def test_results_equal_a_brute_force_scan(session: Session, matcher: MatchService) -> None:
    rng = random.Random(10)
    thresholds = {"wide": 40, "std": 31, "tight": 12}
    for name, pdq in thresholds.items():
        banks.create(session, name=name, thresholds={"pdq": pdq, "phash": 8}, actor="t")
    stored: list[tuple[int, str, str, str]] = []  # (entry id, bank, type, value)
    anchors = [random_pdq(rng) for _ in range(60)]
    for name in thresholds:
        values = [random_pdq(rng) for _ in range(1000)]
        values += [flip(rng.choice(anchors), rng.randint(0, 45), rng) for _ in range(300)]
        phashes = [f"{rng.getrandbits(64):016x}" for _ in range(200)]
        hashes = [("pdq", v) for v in values] + [("phash", v) for v in phashes]
        for entry in banks.add_hashes(session, name, hashes, source="import:bf", actor="t"):
            stored.append((entry.id, name, entry.hash_type, entry.value))
    session.commit()
    matcher.refresh()
    queries = [("pdq", flip(rng.choice(anchors), rng.randint(0, 40), rng)) for _ in range(60)]
    queries += [("pdq", random_pdq(rng)) for _ in range(10)]
    queries += [
        ("phash", flip(v, rng.randint(0, 12), rng, width=64))
        for _, _, t, v in rng.sample(stored, 400)
        if t == "phash"
    ][:20]
    assert len(queries) > 80
    for kind, value in queries:
        expected = set()
        for entry_id, bank, hash_type, stored_value in stored:
            if hash_type != kind:
                continue
            d = (int(stored_value, 16) ^ int(value, 16)).bit_count()
            limit = thresholds[bank] if kind == "pdq" else 8
            if d <= limit:
                expected.add((entry_id, d))
        got = {(m.entry_id, m.distance) for m in matcher.match([(kind, value)])}
        assert got == expected
    assert sum(1 for k, v in queries if matcher.match([(k, v)])) > 40  # the check is not vacuous


def test_bad_queries_have_stable_codes(matcher: MatchService) -> None:
    with pytest.raises(InvalidHash):
        matcher.match([("pdq", "zz")])
    with pytest.raises(InvalidHash):
        matcher.match([("sha1", "a" * 40)])
    with pytest.raises(TooManyHashes):
        matcher.match([("pdq", "0" * 64)] * (MAX_HASHES_PER_QUERY + 1))
    stopped = MatchService()
    with pytest.raises(MatchIndexUnavailable):
        stopped.match([("pdq", "0" * 64)])


def _state(service: MatchService, queries: list[tuple[str, str]]) -> tuple[object, ...]:
    status = service.status()
    results = [
        sorted((m.entry_id, m.distance, m.variant, m.suppressed_by) for m in service.match([q]))
        for q in queries
    ]
    return status["entries"], status["codes"], results


def test_snapshot_plus_later_changes_equals_a_fresh_load(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    rng = random.Random(41)
    banks.create(session, name="a", actor="t")
    banks.create(session, name="rot", match_rotations=True, actor="t")
    banks.create(session, name="allow", action="allow", actor="t")
    values = [random_pdq(rng) for _ in range(300)]
    lines = [v + "\n" for v in values[:200]]
    banks.import_lines(session, "a", lines, fmt="pdq-hex", source="import:x", actor="t")
    early = banks.add_hashes(
        session, "a", [("pdq", values[200]), ("md5", "c" * 32)], source="upload", actor="t"
    )
    image_id = _image_entry(session, "rot", seed=51)
    disabled_before = banks.list_entries(session, "a", limit=5).items
    banks.disable_entry(session, disabled_before[0].id, actor="t")
    session.commit()

    writer = MatchService()
    writer.start(engine, background=False)
    info = writer.save_snapshot(tmp_path)
    writer.stop()
    assert info.entries == 203 and (info.path / "manifest.json").is_file()

    # Changes after the snapshot: adds (bulk and single), disables, deletes, a bank disabled.
    banks.import_lines(
        session, "a", [v + "\n" for v in values[201:290]], fmt="pdq-hex", source="import:y", actor="t"
    )
    late = banks.add_hashes(session, "allow", [("pdq", flip(values[5], 2, rng))], source="review", actor="t")
    banks.enable_entry(session, disabled_before[0].id, actor="t")
    banks.disable_entry(session, disabled_before[1].id, actor="t")
    banks.delete_entry(session, early[1].id, actor="t")
    banks.delete_entry(session, disabled_before[2].id, actor="t")
    banks.update(session, "rot", enabled=False, actor="t")
    banks.create(session, name="b", actor="t")
    banks.add_hashes(session, "b", [("pdq", values[295])], source="upload", actor="t")
    session.commit()

    from_snapshot = MatchService()
    from_snapshot.start(engine, background=False, snapshot_dir=tmp_path)
    fresh = MatchService()
    fresh.start(engine, background=False)
    try:
        assert from_snapshot.status()["loaded_from"] == f"snapshot {info.path.name}"
        assert fresh.status()["loaded_from"] == "database"
        queries = [("pdq", flip(v, rng.randint(0, 20), rng)) for v in values]
        queries += [("md5", "c" * 32), ("pdq", late[0].value)]
        cropped = _query(TRANSFORMS["crop_3pc_right"].apply(generate_image(51)))
        queries += cropped
        assert _state(from_snapshot, queries) == _state(fresh, queries)
        assert sum(1 for q in queries if fresh.match([q])) > 250  # not vacuous
        banks.update(session, "rot", enabled=True, actor="t")
        session.commit()
        from_snapshot.refresh()
        fresh.refresh()
        assert _entries(from_snapshot.match(cropped)) == {image_id}
        assert _state(from_snapshot, queries) == _state(fresh, queries)
    finally:
        from_snapshot.stop()
        fresh.stop()


def test_a_corrupt_or_missing_snapshot_falls_back_to_the_database(
    session: Session, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    banks.create(session, name="a", actor="t")
    value = random_pdq(random.Random(42))
    entry = banks.add_hashes(session, "a", [("pdq", value)], source="upload", actor="t")[0]
    session.commit()
    service = MatchService()
    with caplog.at_level(logging.WARNING, logger="moderation.matching"):
        service.start(engine, background=False, snapshot_dir=tmp_path / "missing")
    assert "loading from the database" in caplog.text and service.status()["loaded_from"] == "database"
    info = service.save_snapshot(tmp_path)
    service.stop()
    index_file = info.path / "pdq.idx"
    index_file.write_bytes(index_file.read_bytes()[:5000])  # header intact, arrays cut off
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="moderation.matching"):
        service.start(engine, background=False, snapshot_dir=tmp_path)
    try:
        assert "snapshot not used" in caplog.text and "truncated" in caplog.text
        assert service.status()["loaded_from"] == "database"
        assert _entries(service.match([("pdq", value)])) == {entry.id}
    finally:
        service.stop()
    (info.path / "manifest.json").write_text("{not json")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="moderation.matching"):
        service.start(engine, background=False, snapshot_dir=tmp_path)
    try:
        assert "snapshot not used" in caplog.text
        assert _entries(service.match([("pdq", value)])) == {entry.id}
    finally:
        service.stop()


def test_an_import_is_one_change_row_that_a_running_matcher_applies(
    session: Session, matcher: MatchService
) -> None:
    banks.create(session, name="a", actor="t")
    session.commit()
    matcher.refresh()
    rng = random.Random(43)
    values = [random_pdq(rng) for _ in range(2500)]
    lines = [v + "\n" for v in values]
    lines.insert(1000, "bad line\n")
    from moderation.banks import service as bank_service

    original = bank_service.IMPORT_BATCH
    bank_service.IMPORT_BATCH = 700  # several batches, one change row
    try:
        report = banks.import_lines(session, "a", lines, fmt="pdq-hex", source="import:x", actor="t")
    finally:
        bank_service.IMPORT_BATCH = original
    session.commit()
    assert report.imported == 2500 and [b.line for b in report.bad_lines] == [1001]
    assert report.last_entry_id - report.first_entry_id + 1 == 2500
    assert matcher.refresh() == 1
    assert matcher.status()["entries"] == 2500
    for value in (values[0], values[999], values[1000], values[-1]):
        assert [m.distance for m in matcher.match([("pdq", value)])] == [0]


def test_snapshot_job_keeps_two_snapshots_and_prunes_the_change_log(
    session: Session, engine: Engine, settings: Settings, matcher: MatchService
) -> None:
    from moderation.matching.tasks import snapshot_index
    from moderation.models.bank_change import BankChange

    rng = random.Random(44)
    banks.create(session, name="a", actor="t")
    first = banks.add_hashes(session, "a", [("pdq", random_pdq(rng))], source="upload", actor="t")[0]
    session.commit()
    matcher.refresh()
    margin = settings.model_copy(update={"match_change_retention_seconds": 0})
    results = [snapshot_index(engine, margin)]
    for _ in range(2):
        banks.add_hashes(session, "a", [("pdq", random_pdq(rng))], source="upload", actor="t")
        session.commit()
        results.append(snapshot_index(engine, margin))
    directory = settings.data_dir / "match-index"
    kept = sorted(p.name for p in directory.iterdir())
    assert kept == sorted([results[1]["snapshot"], results[2]["snapshot"]])
    # Rows up to the older kept snapshot are gone; the newer ones stay for processes starting from it.
    remaining = sorted(s for (s,) in session.query(BankChange.seq).all())
    assert remaining and remaining[0] == int(results[1]["snapshot"]) + 1
    assert results[2]["changes_pruned"] > 0
    # Within the retention margin nothing is pruned.
    banks.add_hashes(session, "a", [("pdq", random_pdq(rng))], source="upload", actor="t")
    session.commit()
    assert snapshot_index(engine, settings)["changes_pruned"] == 0

    # The matcher still sits at an old change: the pruned watermark makes it reload, not miss changes.
    banks.delete_entry(session, first.id, actor="t")
    session.commit()
    assert matcher.status()["change_seq"] < int(results[1]["snapshot"])
    matcher._snapshot_dir = directory
    matcher.refresh()
    assert matcher.status()["loaded_from"].startswith("snapshot ")
    assert matcher.match([("pdq", first.value)]) == []
    assert matcher.status()["entries"] == 3
