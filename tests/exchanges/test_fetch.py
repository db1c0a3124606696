"""Fetching from each fake exchange through python-threatexchange's clients: a first fetch fills the
bank, a second applies only the changes (withdrawals included), failures keep what was applied and the
next fetch resumes from the stored checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import transaction
from moderation.exchanges.errors import ExchangeBusy
from moderation.exchanges.service import exchanges
from tests.exchanges import fakes, scenarios
from tests.exchanges.conftest import add_exchange, bank_rows, fetch

KINDS = ("ncmec", "stopncii", "tat", "threatexchange", "file")


@pytest.mark.parametrize("kind", KINDS)
def test_each_exchange_fills_its_bank_then_applies_only_the_changes(
    kind: str,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    tmp_path: Path,
    ncmec_clock: list[float],
) -> None:
    story = scenarios.scenario()
    signal_file = tmp_path / "signals.txt"
    scenarios.seed(fake, kind, story, signal_file)
    options: dict[str, object] = {"filename": str(signal_file)} if kind == "file" else {}
    if kind == "ncmec":
        options["signal_types"] = ["pdq", "video_md5"]  # image MD5s: see the provenance test
    add_exchange(engine, fake, kind, **options)

    first = fetch(engine, credentials, kind)
    assert first.error is None and first.complete, first
    rows = bank_rows(engine, f"{kind}-bank")
    assert set(rows) == story.first and len(rows) == len(story.first)  # no duplicates
    assert first.added == len(story.first) and first.removed == 0
    if kind != "file":
        assert first.pages > 1  # the fake pages by 2: paging was followed

    scenarios.change(fake, kind, story, signal_file)
    ncmec_clock[0] += 10_000
    second = fetch(engine, credentials, kind)
    assert second.error is None and second.complete, second
    assert second.records == scenarios.SECOND_FETCH_RECORDS[kind]  # from the checkpoint, not the start
    assert second.added == 1
    assert second.removed == (1 if scenarios.REMOVES[kind] else 0)
    assert (second.updated >= 1) == scenarios.UPDATES[kind]
    expected = story.after_change if scenarios.REMOVES[kind] else story.first | {("pdq", story.new_pdq)}
    rows = bank_rows(engine, f"{kind}-bank")
    assert set(rows) == expected and len(rows) == len(expected)

    third = fetch(engine, credentials, kind)
    assert (third.added, third.removed, third.updated, third.error) == (0, 0, 0, None)
    with transaction(engine) as session:
        status = exchanges.status(session, kind)
        records = exchanges.records(session, kind, limit=1000).items
    assert status.last_error is None and status.last_fetch_at is not None and not status.fetching
    assert status.counts.records == len(expected) == len(records)
    assert status.counts.entries_added == len(story.first) + 1
    if kind != "file":
        assert status.checkpoint and status.progress_at is not None
    assert {(r.hash_type, r.value) for r in records} == expected
    assert all(r.first_fetched_at and r.opinions for r in records)


def test_provenance_keeps_the_exchanges_record_key_and_opinions(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path, ncmec_clock: list[float]
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "ncmec", story, tmp_path / "x")
    add_exchange(engine, fake, "ncmec")
    fetch(engine, credentials, "ncmec")
    with transaction(engine) as session:
        records = {r.value: r for r in exchanges.records(session, "ncmec").items}
    first = records[story.pdqs[1]]
    assert first.record_key == "7-e1" and first.signal_type == "pdq"
    assert first.opinions[0]["category"] == "POSITIVE_CLASS" and first.opinions[0]["tags"] == ["A1"]
    assert first.opinions[0]["esp_id"] == 7
    assert (
        records[scenarios.VIDEO_MD5].signal_type == "video_md5"
        and records[scenarios.VIDEO_MD5].hash_type == "md5"
    )
    # NCMEC image MD5s (no signal type in the library) are taken from the entry's fingerprints.
    image_md5 = records[f"{1:032x}"]
    assert (image_md5.signal_type, image_md5.hash_type, image_md5.record_key) == ("image_md5", "md5", "7-e1")
    assert image_md5.opinions[0]["tags"] == ["A1"]
    assert len(records) == 2 * len(story.pdqs) + 1


def test_an_outage_mid_fetch_keeps_the_applied_pages_and_the_next_fetch_resumes(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "tat", story, tmp_path / "x")
    add_exchange(engine, fake, "tat")
    # Page 1 answers; then the hash list is down for longer than the library's retries last.
    fake.state.failures.append(fakes.Failure("/tat/api/hash-list", 503, times=5, after=1))
    report = fetch(engine, credentials, "tat")
    assert report.pages == 1 and not report.complete and report.error and "503" in report.error
    assert len(bank_rows(engine, "tat-bank")) == 2
    with transaction(engine) as session:
        status = exchanges.status(session, "tat")
    assert status.last_error == report.error and status.checkpoint == {
        "checkpoint": f"{scenarios.BASE_TS + 1.5},2"
    }

    resumed = fetch(engine, credentials, "tat")
    assert resumed.error is None and resumed.complete
    afters = {r.query.get("after", [""])[0] for r in fake.received("GET", "/tat/api")[-3:]}
    assert afters == {f"{scenarios.BASE_TS + 1.5},2"}  # resumed from the stored checkpoint
    rows = bank_rows(engine, "tat-bank")
    assert set(rows) == story.first and len(rows) == len(story.first)
    with transaction(engine) as session:
        assert exchanges.status(session, "tat").last_error is None


def test_a_rate_limited_page_is_retried_by_the_client(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    fake.state.failures.append(fakes.Failure("/stopncii/FetchHashes", 429, times=1, after=1))
    report = fetch(engine, credentials, "stopncii")
    assert report.error is None and report.complete
    assert len(fake.received("GET", "/stopncii/FetchHashes")) == report.pages + 1
    assert set(bank_rows(engine, "stopncii-bank")) == story.first


def test_bad_credentials_are_reported_without_the_secret(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"threatexchange": {"api_token": "12345678|wrong-secret-wrong-secret-99"}}')
    bad = credentials.model_copy(update={"exchange_credentials_file": path})
    add_exchange(engine, fake, "threatexchange")
    report = fetch(engine, bad, "threatexchange")
    assert report.error and "HTTPError" in report.error and "wrong-secret" not in report.error
    missing = fetch(
        engine, credentials.model_copy(update={"exchange_credentials_file": None}), "threatexchange"
    )
    assert missing.error and missing.error.startswith("exchange_credentials_missing")
    with transaction(engine) as session:
        assert exchanges.status(session, "threatexchange").last_error == missing.error


def test_a_second_fetcher_is_refused_while_the_lease_is_held(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    scenarios.seed(fake, "stopncii", scenarios.scenario(), tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    seen: list[int] = []

    def inner(report: object) -> None:
        if not seen:
            seen.append(1)
            with pytest.raises(ExchangeBusy):
                fetch(engine, credentials, "stopncii")

    report = fetch(engine, credentials, "stopncii", progress=inner)
    assert seen and report.complete and report.error is None
