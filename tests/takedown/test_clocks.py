"""Worked cases for the takedown clocks of every shipped regime: effective dates, DST, business days,
pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.config import PROJECT_ROOT
from moderation.policy.regimes import BusinessCalendar, Regime, RegimeSet, load_regimes
from moderation.takedown.clocks import (
    ClockDue,
    InvalidClockInput,
    NaiveDatetime,
    Pause,
    RegimeNotInForce,
    add_business_days,
    compute_clocks,
    due_at,
    iso_utc,
    restore_window,
)

H = timedelta(hours=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def regimes() -> RegimeSet:
    return load_regimes(PROJECT_ROOT / "policies")


def by_id(clocks: list[ClockDue]) -> dict[str, ClockDue]:
    return {c.id: c for c in clocks}


def due(clocks: list[ClockDue], clock_id: str = "removal") -> str | None:
    value = by_id(clocks)[clock_id].due_at
    return iso_utc(value) if value else None


# --- each shipped regime ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regime_id", "received", "clock_id", "expected", "version"),
    [
        ("us-take-it-down", "2026-06-01T12:00:00Z", "removal", "2026-06-03T12:00:00Z", "2026-05-19"),
        ("in-it-rules-3-1-d", "2026-06-01T12:00:00Z", "removal", "2026-06-01T15:00:00Z", "2026-02-20"),
        ("in-it-rules-3-2-b", "2026-06-01T12:00:00Z", "removal", "2026-06-01T14:00:00Z", "2026-02-20"),
        ("eu-tco", "2026-06-01T12:00:00Z", "removal", "2026-06-01T13:00:00Z", "2022-06-07"),
        ("eu-dsa-16", "2026-06-01T12:00:00Z", "decision-target", "2026-06-02T12:00:00Z", "2024-02-17"),
        ("uk-osa-intimate-image", "2026-06-01T12:00:00Z", "removal", "2026-06-03T12:00:00Z", "2026-04-29"),
        ("au-osa-removal-notice", "2026-06-01T12:00:00Z", "removal", "2026-06-02T12:00:00Z", "2022-01-23"),
        # Mon 1 Jun 2026 08:00 EDT: one US business day -> end of Tue 2 Jun (04:00Z on Wed).
        ("us-dmca", "2026-06-01T12:00:00Z", "removal-target", "2026-06-03T04:00:00Z", "1998"),
        ("us-nc-66-507", "2026-06-01T12:00:00Z", "removal", "2026-06-04T12:00:00Z", "2025-12-01"),
        ("terms-of-service", "2026-06-01T12:00:00Z", "review-target", "2026-06-04T12:00:00Z", "1"),
        ("us-ut-13-72b", "2027-06-01T12:00:00Z", "removal", "2027-06-03T12:00:00Z", "2027-01-01"),
    ],
)
def test_each_regime_due_time(
    regimes: RegimeSet, regime_id: str, received: str, clock_id: str, expected: str, version: str
) -> None:
    start = at(received)
    clocks = compute_clocks(regimes.get(regime_id), start, completed_at=start)
    assert due(clocks, clock_id) == expected
    assert {c.version for c in clocks} == {version}
    assert iso_utc(due_at(clocks)) == expected  # type: ignore[arg-type]


def test_no_fixed_length_clock_has_no_due_time(regimes: RegimeSet) -> None:
    clocks = by_id(compute_clocks(regimes.get("eu-dsa-16"), at("2026-06-01T12:00:00Z")))
    assert clocks["decision"].kind == "statutory" and clocks["decision"].due_at is None
    assert "without undue delay" in (clocks["decision"].reason or "")
    assert clocks["decision-target"].kind == "internal"
    dmca = by_id(
        compute_clocks(regimes.get("us-dmca"), at("2026-06-01T12:00:00Z"), at("2026-06-01T12:00:00Z"))
    )
    assert dmca["removal"].due_at is None and "expeditiously" in (dmca["removal"].reason or "")


# --- completed and served triggers -------------------------------------------------------------------


def test_take_it_down_runs_from_completion(regimes: RegimeSet) -> None:
    tida = regimes.get("us-take-it-down")
    pending = compute_clocks(tida, at("2026-06-01T12:00:00Z"))
    assert due(pending) is None and due_at(pending) is None
    assert "complete" in (pending[0].reason or "")
    completed = compute_clocks(tida, at("2026-06-01T12:00:00Z"), completed_at=at("2026-06-01T20:30:00Z"))
    assert due(completed) == "2026-06-03T20:30:00Z"
    assert completed[0].starts_at == at("2026-06-01T20:30:00Z")


def test_served_defaults_to_received_and_can_be_later(regimes: RegimeSet) -> None:
    au = regimes.get("au-osa-removal-notice")
    assert due(compute_clocks(au, at("2026-05-01T00:00:00Z"))) == "2026-05-02T00:00:00Z"
    later = compute_clocks(au, at("2026-05-01T00:00:00Z"), served_at=at("2026-05-01T02:15:00Z"))
    assert due(later) == "2026-05-02T02:15:00Z"


def test_completion_before_receipt_is_refused(regimes: RegimeSet) -> None:
    with pytest.raises(InvalidClockInput):
        compute_clocks(
            regimes.get("us-take-it-down"), at("2026-06-02T00:00Z"), completed_at=at("2026-06-01T00:00Z")
        )


def test_naive_times_are_refused(regimes: RegimeSet) -> None:
    with pytest.raises(NaiveDatetime) as caught:
        compute_clocks(regimes.get("eu-tco"), datetime(2026, 6, 1, 12))
    assert caught.value.code == "naive_datetime"


# --- effective dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regime_id", "received", "expected_due", "version"),
    [
        # The 2026 amendment is in force from 00:00 IST on 20 Feb = 18:30Z on 19 Feb.
        ("in-it-rules-3-1-d", "2026-02-19T18:29:00Z", "2026-02-21T06:29:00Z", "2025-11-15"),
        ("in-it-rules-3-1-d", "2026-02-19T18:30:00Z", "2026-02-19T21:30:00Z", "2026-02-20"),
        ("in-it-rules-3-1-d", "2026-02-20T00:00:00+05:30", "2026-02-19T21:30:00Z", "2026-02-20"),
        # 23:00Z on 19 Feb is already 04:30 IST on 20 Feb: the 3-hour version applies.
        ("in-it-rules-3-1-d", "2026-02-19T23:00:00Z", "2026-02-20T02:00:00Z", "2026-02-20"),
        ("in-it-rules-3-1-d", "2026-02-19T12:00:00Z", "2026-02-21T00:00:00Z", "2025-11-15"),
        ("in-it-rules-3-1-d", "2025-11-14T18:29:00Z", "2025-11-16T06:29:00Z", "2021"),
        ("in-it-rules-3-2-b", "2026-02-19T18:00:00Z", "2026-02-20T18:00:00Z", "2025-11-11"),
        ("in-it-rules-3-2-b", "2025-11-10T18:29:00Z", "2025-11-11T18:29:00Z", "2021"),
        ("in-it-rules-3-2-b", "2026-02-20T00:00:00Z", "2026-02-20T02:00:00Z", "2026-02-20"),
        # Utah from 00:00 MST on 1 Jan 2027 = 07:00Z.
        ("us-ut-13-72b", "2027-01-01T07:00:00Z", "2027-01-03T07:00:00Z", "2027-01-01"),
    ],
)
def test_version_in_force_at_receipt(
    regimes: RegimeSet, regime_id: str, received: str, expected_due: str, version: str
) -> None:
    start = at(received)
    clocks = compute_clocks(regimes.get(regime_id), start, completed_at=start)
    assert (due(clocks), clocks[0].version) == (expected_due, version)


def test_receipt_before_the_first_version_is_not_in_force(regimes: RegimeSet) -> None:
    with pytest.raises(RegimeNotInForce) as caught:
        compute_clocks(regimes.get("us-ut-13-72b"), at("2026-12-31T23:59:00-07:00"))
    assert caught.value.code == "regime_not_in_force" and "2027-01-01" in caught.value.message
    with pytest.raises(RegimeNotInForce):
        compute_clocks(regimes.get("us-take-it-down"), at("2026-05-19T03:59:59Z"))


# --- daylight saving ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regime_id", "received", "expected", "zone"),
    [
        # US DST ends 1 Nov 2026 at 06:00Z: 12:00 EDT -> 11:00 EST two days later.
        ("us-take-it-down", "2026-10-31T12:00:00-04:00", "2026-11-02T16:00:00Z", "America/New_York"),
        # US DST starts 14 Mar 2027: 12:00 EST -> 13:00 EDT.
        ("us-take-it-down", "2027-03-13T12:00:00-05:00", "2027-03-15T17:00:00Z", "America/New_York"),
        # UK summer time ends 25 Oct 2026: 12:00 BST -> 11:00 GMT.
        ("uk-osa-intimate-image", "2026-10-24T12:00:00+01:00", "2026-10-26T11:00:00Z", "Europe/London"),
        # EU summer time starts 29 Mar 2026: 12:00 CET -> 13:00 CEST the next day (24 h internal target).
        ("eu-dsa-16", "2026-03-28T12:00:00+01:00", "2026-03-29T11:00:00Z", "Europe/Brussels"),
    ],
)
def test_elapsed_hours_do_not_drift_across_dst(
    regimes: RegimeSet, regime_id: str, received: str, expected: str, zone: str
) -> None:
    start = at(received)
    clocks = [c for c in compute_clocks(regimes.get(regime_id), start, completed_at=start) if c.due_at]
    clock = clocks[0]
    assert clock.due_at is not None and iso_utc(clock.due_at) == expected
    assert clock.due_at - start == timedelta(hours=clock.spec.length or 0)
    local_start, local_due = start.astimezone(ZoneInfo(zone)), clock.due_at.astimezone(ZoneInfo(zone))
    assert local_due.hour != local_start.hour, "the wall clock must move by the DST hour"


# --- business days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Fri 20 Nov 2026 10:00 EST: the next business day is Mon 23 -> due at its end (05:00Z Tue).
        ("2026-11-20T15:00:00Z", "2026-11-24T05:00:00Z"),
        # Fri 20 Nov 22:00 EST is 03:00Z on Saturday, but still Friday in New York: same due time.
        ("2026-11-21T03:00:00Z", "2026-11-24T05:00:00Z"),
        # Wed 25 Nov: Thanksgiving (Thu 26) is skipped -> end of Fri 27.
        ("2026-11-25T15:00:00Z", "2026-11-28T05:00:00Z"),
        # Thu 24 Dec: Christmas (Fri 25) and the weekend are skipped -> end of Mon 28.
        ("2026-12-24T15:00:00Z", "2026-12-29T05:00:00Z"),
        # Fri 2 Jul 2027: Independence Day observed Mon 5 Jul -> end of Tue 6 (EDT, 04:00Z).
        ("2027-07-02T15:00:00Z", "2027-07-07T04:00:00Z"),
    ],
)
def test_dmca_internal_target_in_us_business_days(regimes: RegimeSet, received: str, expected: str) -> None:
    start = at(received)
    clocks = compute_clocks(regimes.get("us-dmca"), start, completed_at=start)
    assert due(clocks, "removal-target") == expected


def test_dmca_restore_window_skips_weekends_and_holidays(regimes: RegimeSet) -> None:
    version = regimes.get("us-dmca").versions[0]
    # Counter-notice Thu 10 Dec 2026: business days 11, 14-18, 21-24 -> 10th is Thu 24 Dec;
    # Fri 25 Dec is Christmas -> the 14th is Thu 31 Dec.
    earliest, latest = restore_window(version, at("2026-12-10T15:00:00Z"))
    assert (iso_utc(earliest), iso_utc(latest)) == ("2026-12-25T05:00:00Z", "2027-01-01T05:00:00Z")
    # Counter-notice Fri 13 Nov 2026: Thanksgiving (26 Nov) pushes the 10th business day to Mon 30 Nov.
    earliest, latest = restore_window(version, at("2026-11-13T15:00:00Z"))
    assert (iso_utc(earliest), iso_utc(latest)) == ("2026-12-01T05:00:00Z", "2026-12-05T05:00:00Z")


def test_restore_window_needs_a_counter_notice_route(regimes: RegimeSet) -> None:
    with pytest.raises(InvalidClockInput):
        restore_window(regimes.get("eu-tco").versions[0], at("2026-06-01T00:00:00Z"))


def _regime(**clock: Any) -> Regime:
    spec = {"id": "c", "kind": "internal", "trigger": "received", "confidence": "confirmed", **clock}
    return Regime.model_validate(
        {
            "id": "test",
            "title": "Test regime",
            "jurisdiction": "IN",
            "timezone": "Asia/Kolkata",
            "team": "t",
            "review": "Review with counsel before use.",
            "sources": [{"title": "test", "confidence": "confirmed"}],
            "versions": [
                {
                    "version": "1",
                    "effective_from": "2020-01-01",
                    "confidence": "confirmed",
                    "clocks": [spec],
                    "required_fields": [],
                    "removal_scope": ["item"],
                    "preservation": None,
                    "notify_uploader": False,
                    "appeal": {"route": "none", "confidence": "confirmed"},
                    "alerts": {"thresholds": [0.5]},
                }
            ],
        }
    )


def test_calendar_days_count_local_days_from_the_day_after_receipt() -> None:
    regime = _regime(length=7, unit="calendar_days")
    # 20:00Z on 1 Mar is 01:30 IST on 2 Mar: days 3..9 Mar, due at the end of 9 Mar IST.
    assert due(compute_clocks(regime, at("2026-03-01T20:00:00Z")), "c") == "2026-03-09T18:30:00Z"
    # 18:00Z on 1 Mar is 23:30 IST on 1 Mar: one day earlier.
    assert due(compute_clocks(regime, at("2026-03-01T18:00:00Z")), "c") == "2026-03-08T18:30:00Z"


def test_business_days_use_the_clock_calendar() -> None:
    regime = _regime(length=1, unit="business_days", calendar={"country": "IN"}, timezone="Asia/Kolkata")
    # Fri 14 Aug 2026 IST: Sat/Sun skipped, Independence Day is Sat 15 Aug; Mon 17 counts.
    assert due(compute_clocks(regime, at("2026-08-14T06:00:00Z")), "c") == "2026-08-17T18:30:00Z"
    # Mon 25 Jan 2027 IST: Republic Day (Tue 26 Jan) is skipped -> end of Wed 27 Jan.
    assert due(compute_clocks(regime, at("2027-01-25T06:00:00Z")), "c") == "2027-01-27T18:30:00Z"


# --- pauses: EU TCO restarts the hour in full (Art. 3(7)-(8)) ----------------------------------------


@pytest.mark.parametrize(
    ("received", "pauses", "expected"),
    [
        ("2026-06-01T10:00:00Z", [], "2026-06-01T11:00:00Z"),
        # Information missing 10:20-10:50Z: a full hour from 10:50Z (not the 40 minutes that were left).
        (
            "2026-06-01T10:00:00Z",
            [Pause(at("2026-06-01T10:20Z"), at("2026-06-01T10:50Z"), "missing_information")],
            "2026-06-01T11:50:00Z",
        ),
        # The worked cases: force majeure across midnight, and a manifest error one minute
        # before the hour ran out.
        (
            "2026-06-01T23:30:00Z",
            [Pause(at("2026-06-01T23:40Z"), at("2026-06-02T02:00Z"), "force_majeure")],
            "2026-06-02T03:00:00Z",
        ),
        (
            "2026-06-01T10:00:00Z",
            [Pause(at("2026-06-01T10:59Z"), at("2026-06-01T11:30Z"), "manifest_error")],
            "2026-06-01T12:30:00Z",
        ),
        # A pause without a reason applies to every pausable clock.
        (
            "2026-06-01T10:00:00Z",
            [(at("2026-06-01T10:20Z"), at("2026-06-01T10:50Z"))],
            "2026-06-01T11:50:00Z",
        ),
        # A reason the regime does not allow does not pause it.
        (
            "2026-06-01T10:00:00Z",
            [Pause(at("2026-06-01T10:20Z"), at("2026-06-01T10:50Z"), "lunch")],
            "2026-06-01T11:00:00Z",
        ),
        # Grounds present at receipt: the hour starts when they cease.
        (
            "2026-06-01T10:00:00Z",
            [Pause(at("2026-06-01T09:50Z"), at("2026-06-01T10:10Z"), "force_majeure")],
            "2026-06-01T11:10:00Z",
        ),
        # Overlapping pauses are one stop: the hour restarts at the end of the later one.
        (
            "2026-06-01T10:00:00Z",
            [
                Pause(at("2026-06-01T10:10Z"), at("2026-06-01T10:30Z"), "force_majeure"),
                Pause(at("2026-06-01T10:20Z"), at("2026-06-01T10:40Z"), "technical_impossibility"),
            ],
            "2026-06-01T11:40:00Z",
        ),
        # A pause that starts after the hour ran out does not revive it.
        (
            "2026-06-01T10:00:00Z",
            [Pause(at("2026-06-01T11:05Z"), at("2026-06-01T12:00Z"), "manifest_error")],
            "2026-06-01T11:00:00Z",
        ),
        # Two stops: the second falls inside the restarted hour, so the hour restarts again.
        (
            "2026-06-01T10:00:00Z",
            [
                Pause(at("2026-06-01T10:30Z"), at("2026-06-01T11:00Z"), "missing_information"),
                Pause(at("2026-06-01T11:15Z"), at("2026-06-01T11:20Z"), "force_majeure"),
            ],
            "2026-06-01T12:20:00Z",
        ),
    ],
)
def test_tco_pause_restarts_the_hour(
    regimes: RegimeSet, received: str, pauses: list[Any], expected: str
) -> None:
    clock = compute_clocks(regimes.get("eu-tco"), at(received), pauses=pauses)[0]
    assert clock.spec.pause_semantics == "restart"
    assert iso_utc(clock.due_at) == expected  # type: ignore[arg-type]


def test_tco_alerts_follow_the_restarted_hour(regimes: RegimeSet) -> None:
    tco = regimes.get("eu-tco")
    received = at("2026-06-01T10:00:00Z")
    open_pause = [Pause(at("2026-06-01T10:40Z"), None, "missing_information")]
    clock = compute_clocks(tco, received, pauses=open_pause)[0]
    assert clock.due_at is None and "paused" in (clock.reason or "")
    # The 50% alert came before the stop and keeps its time; later ones wait for the restart.
    assert [(a.threshold, a.at) for a in clock.alerts] == [
        (0.5, at("2026-06-01T10:30Z")),
        (0.75, None),
        (0.9, None),
    ]
    resumed = [Pause(at("2026-06-01T10:40Z"), at("2026-06-01T12:40Z"), "missing_information")]
    clock = compute_clocks(tco, received, pauses=resumed)[0]
    assert clock.due_at == at("2026-06-01T13:40Z") and clock.paused_for == timedelta(hours=2)
    assert [a.at for a in clock.alerts] == [
        at("2026-06-01T10:30Z"),
        at("2026-06-01T13:25Z"),
        at("2026-06-01T13:34Z"),
    ]


# --- pauses that extend the clock by the paused time -------------------------------------------------


def _pausable(semantics: str) -> Regime:
    return _regime(
        length=1,
        unit="hours",
        pausable=True,
        pause_reasons=["missing_information"],
        pause_semantics=semantics,
    )


@pytest.mark.parametrize(
    ("pauses", "extend", "restart"),
    [
        ([("10:20", "10:50")], "11:30", "11:50"),
        ([("10:59", "11:30")], "11:31", "12:30"),
        ([("10:10", "10:30"), ("10:20", "10:40")], "11:30", "11:40"),
        ([("10:30", "11:00"), ("11:15", "11:20")], "11:35", "12:20"),
        ([("11:05", "12:00")], "11:00", "11:00"),
    ],
)
def test_extend_adds_the_paused_time_restart_runs_the_full_length(
    pauses: list[tuple[str, str]], extend: str, restart: str
) -> None:
    spans = [
        Pause(at(f"2026-03-01T{a}:00Z"), at(f"2026-03-01T{b}:00Z"), "missing_information") for a, b in pauses
    ]
    received = at("2026-03-01T10:00:00Z")
    assert due(compute_clocks(_pausable("extend"), received, pauses=spans), "c") == f"2026-03-01T{extend}:00Z"
    assert (
        due(compute_clocks(_pausable("restart"), received, pauses=spans), "c") == f"2026-03-01T{restart}:00Z"
    )


def test_extend_and_restart_across_midnight() -> None:
    received = at("2026-03-01T23:30:00Z")
    pause = [Pause(at("2026-03-01T23:40Z"), at("2026-03-02T02:00Z"), "missing_information")]
    assert due(compute_clocks(_pausable("extend"), received, pauses=pause), "c") == "2026-03-02T02:50:00Z"
    assert due(compute_clocks(_pausable("restart"), received, pauses=pause), "c") == "2026-03-02T03:00:00Z"


def test_extend_alerts_resume_where_they_stopped() -> None:
    received = at("2026-03-01T10:00:00Z")
    pause = [Pause(at("2026-03-01T10:40Z"), at("2026-03-01T12:40Z"), "missing_information")]
    clock = compute_clocks(_pausable("extend"), received, pauses=pause)[0]
    assert clock.due_at == at("2026-03-01T13:00Z") and clock.paused_for == timedelta(hours=2)
    assert [a.at for a in clock.alerts] == [at("2026-03-01T10:30Z")]


def test_pauses_do_not_apply_to_clocks_that_cannot_pause(regimes: RegimeSet) -> None:
    pause = [Pause(at("2026-06-01T12:00Z"), at("2026-06-01T20:00Z"))]
    clocks = compute_clocks(regimes.get("uk-osa-intimate-image"), at("2026-06-01T10:00:00Z"), pauses=pause)
    assert due(clocks) == "2026-06-03T10:00:00Z"


def test_invalid_pause_is_refused(regimes: RegimeSet) -> None:
    with pytest.raises(InvalidClockInput):
        compute_clocks(
            regimes.get("eu-tco"),
            at("2026-06-01T10:00Z"),
            pauses=[Pause(at("2026-06-01T11:00Z"), at("2026-06-01T10:30Z"))],
        )


def test_alert_instants_are_fractions_of_the_clock(regimes: RegimeSet) -> None:
    clock = compute_clocks(regimes.get("us-take-it-down"), at("2026-06-01T00:00Z"), at("2026-06-01T00:00Z"))[
        0
    ]
    assert [(a.threshold, a.at) for a in clock.alerts] == [
        (0.5, at("2026-06-02T00:00Z")),
        (0.75, at("2026-06-02T12:00Z")),
        (0.9, at("2026-06-02T19:12Z")),
    ]


# --- properties ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    received=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=1, max_value=20),
)
def test_business_day_due_is_the_end_of_the_nth_business_day(received: datetime, days: int) -> None:
    zone, calendar = ZoneInfo("America/New_York"), BusinessCalendar(country="US")
    due = add_business_days(received, days, zone, calendar)
    local = due.astimezone(zone)
    assert (local.hour, local.minute) == (0, 0)
    last_day = local.date() - timedelta(days=1)
    assert last_day.weekday() < 5 and last_day not in calendar.holidays()
    day, counted = received.astimezone(zone).date(), 0
    while day < last_day:
        day += timedelta(days=1)
        counted += day.weekday() < 5 and day not in calendar.holidays()
    assert counted == days


@settings(max_examples=60, deadline=None)
@given(
    received=st.datetimes(
        min_value=datetime(2026, 6, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    )
)
def test_hour_clocks_are_exact_elapsed_hours(received: datetime) -> None:
    regimes = load_regimes(PROJECT_ROOT / "policies")
    for regime_id in ("us-take-it-down", "uk-osa-intimate-image", "eu-tco", "us-nc-66-507"):
        clock = compute_clocks(regimes.get(regime_id), received, completed_at=received)[0]
        assert clock.due_at is not None and clock.spec.length is not None
        assert clock.due_at - received == timedelta(hours=clock.spec.length)
