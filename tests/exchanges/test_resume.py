"""A fetch killed mid-way (a real `moderation exchange fetch` process, SIGKILLed while it waits on the
exchange) resumes from the checkpoint stored with the last applied page: no duplicates, no gaps. And a
withdrawal reaches every process's match index within its refresh interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from moderation.config import PROJECT_ROOT, Settings
from moderation.db import transaction
from moderation.exchanges.errors import ExchangeBusy
from moderation.exchanges.service import exchanges
from moderation.kit.time import set_clock
from moderation.matching.service import MatchService
from tests.exchanges import fakes, scenarios
from tests.exchanges.conftest import add_exchange, bank_rows, fetch


def test_a_worker_killed_mid_fetch_resumes_without_duplicates_or_gaps(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    # Pages of 2 records: pages 1 and 2 are applied, the request for page 3 (offset 4) never answers.
    fake.state.hang_prefix, fake.state.hang_offset = "/stopncii/FetchHashes", 4
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), MODERATION_EXCHANGE_FETCH_LEASE_SECONDS="600")
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "exchange", "fetch", "stopncii"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert fake.state.hanging.wait(timeout=60), process.stderr.read() if process.stderr else ""
        time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        fake.state.release.set()
    applied = bank_rows(engine, "stopncii-bank")
    assert len(applied) == 4
    with transaction(engine) as session:
        status = exchanges.status(session, "stopncii")
    assert status.fetching and status.checkpoint is not None
    assert status.checkpoint["update_time"] == scenarios.BASE_TS + 3  # the 4th record's timestamp

    # The dead worker's lease still holds the exchange; once it lapses, a new fetch takes over.
    with pytest.raises(ExchangeBusy):
        fetch(engine, credentials, "stopncii")
    set_clock(offset=timedelta(seconds=601))
    fake.state.hang_prefix = None
    report = fetch(engine, credentials, "stopncii")
    assert report.error is None and report.complete and report.added == len(story.first) - 4
    assert fake.received("GET", "/stopncii/FetchHashes")[-report.pages].query["startTimestamp"] == [
        str(scenarios.BASE_TS + 3)
    ]
    rows = bank_rows(engine, "stopncii-bank")
    assert set(rows) == story.first and len(rows) == len(story.first)


def test_a_page_applied_twice_changes_nothing(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A worker that dies after the exchange answered but before its commit fetches that page again."""
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    fetch(engine, credentials, "stopncii")
    with transaction(engine) as session:
        exchange = exchanges.get(session, "stopncii")
        exchange.checkpoint = None  # as if no page had been committed
    again = fetch(engine, credentials, "stopncii")
    assert again.records == len(story.first) and (again.added, again.removed) == (0, 0)
    assert len(bank_rows(engine, "stopncii-bank")) == len(story.first)


def test_a_withdrawal_leaves_matching_within_the_refresh_interval(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    refresh = 0.2
    matcher = MatchService()
    matcher.start(engine, refresh_seconds=refresh, background=True)
    try:
        fetch(engine, credentials, "stopncii")
        query = [("pdq", story.pdqs[0])]
        deadline = time.monotonic() + 10 * refresh
        while not matcher.match(query) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.bank for m in matcher.match(query)] == ["stopncii-bank"]

        scenarios.change(fake, "stopncii", story, tmp_path / "x")
        fetch(engine, credentials, "stopncii")
        withdrawn_at = time.monotonic()
        while matcher.match(query) and time.monotonic() < withdrawn_at + 10 * refresh:
            time.sleep(0.02)
        elapsed = time.monotonic() - withdrawn_at
        assert matcher.match(query) == []
        # One refresh interval (0.2 s) plus the refresh itself; generous for a loaded 2-core machine.
        assert elapsed <= 3.0, elapsed
        added = [("pdq", story.new_pdq)]
        while not matcher.match(added) and time.monotonic() < withdrawn_at + 10 * refresh:
            time.sleep(0.02)
        assert [m.bank for m in matcher.match(added)] == ["stopncii-bank"]
    finally:
        matcher.stop()


def test_one_index_refresh_after_the_withdrawal_commits_stops_the_match(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "tat", story, tmp_path / "x")
    add_exchange(engine, fake, "tat")
    matcher = MatchService()
    matcher.start(engine, refresh_seconds=60, background=False)
    try:
        fetch(engine, credentials, "tat")
        matcher.refresh()
        query = [("pdq", story.pdqs[0])]
        assert [m.bank for m in matcher.match(query)] == ["tat-bank"]
        scenarios.change(fake, "tat", story, tmp_path / "x")
        fetch(engine, credentials, "tat")
        assert [m.bank for m in matcher.match(query)] == ["tat-bank"]  # not refreshed yet
        assert matcher.refresh() >= 1
        assert matcher.match(query) == []
    finally:
        matcher.stop()
