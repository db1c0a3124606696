"""Pure takedown-clock arithmetic: due times of a regime's clocks from receipt, completion, the
acknowledgement and pauses (extended by the paused time, or restarted in full)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from moderation.exceptions import ModerationError
from moderation.policy.regimes import BusinessCalendar, ClockSpec, Regime, RegimeVersion


class NaiveDatetime(ModerationError):
    """A timestamp without a UTC offset: ambiguous, so refused."""

    code = "naive_datetime"
    status = 422


class InvalidClockInput(ModerationError):
    code = "invalid_clock_input"
    status = 422


class RegimeNotInForce(ModerationError):
    """No version of the regime was in force at the notice's receipt (before its first effective date)."""

    code = "regime_not_in_force"
    status = 422


@dataclass(frozen=True)
class Pause:
    """A pause of the clocks: `end` None while it is still open. `reason` None applies to any pausable
    clock; otherwise only clocks whose `pause_reasons` list it are paused."""

    start: datetime
    end: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AlertDue:
    """When a clock crosses an alert threshold (a fraction of its running time); None while paused."""

    threshold: float
    at: datetime | None


@dataclass(frozen=True)
class ClockDue:
    """One clock computed for one notice. `due_at` is None for a clock with no fixed length, whose
    trigger has not happened yet, or that is paused with no end; `reason` then says which."""

    id: str
    kind: str
    step: str
    version: str
    trigger: str
    starts_at: datetime | None
    due_at: datetime | None
    reason: str | None
    paused_for: timedelta
    alerts: tuple[AlertDue, ...]
    spec: ClockSpec


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` in UTC; refuse naive datetimes (their meaning depends on the reader's zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{name} must carry a UTC offset or Z (got {value.isoformat()})")
    return value.astimezone(UTC)


def version_in_force(regime: Regime, received_at: datetime) -> RegimeVersion:
    """The regime version in force at receipt; `RegimeNotInForce` before the first effective date."""
    received = require_aware(received_at, "received_at")
    version = regime.version_at(received)
    if version is None:
        starts = ", ".join(f"{v.version} from {iso_utc(v.starts_at(regime.zone))}" for v in regime.versions)
        raise RegimeNotInForce(
            f"regime '{regime.id}' was not in force at {iso_utc(received)} (versions: {starts})",
            details={"regime": regime.id, "received_at": iso_utc(received)},
        )
    return version


def compute_clocks(
    regime: Regime,
    received_at: datetime,
    completed_at: datetime | None = None,
    served_at: datetime | None = None,
    pauses: Iterable[Pause | tuple[datetime, datetime | None]] = (),
    acknowledged_at: datetime | None = None,
) -> list[ClockDue]:
    """Every clock of the version in force at `received_at`, with its due time in UTC.

    `completed_at` is when the request became complete (its last required field arrived); until then
    `completed` clocks have no due time. `served_at` is the order's receipt at the contact point and
    defaults to `received_at`. `acknowledged_at` is when receipt was confirmed to the reporter; until
    then `acknowledged` clocks (California's status update and decision) have no due time.

    A pause counts only for a pausable clock, and only the part after the clock started and before it
    ran out. With `pause_semantics: extend` it pushes the due time back by the paused duration; with
    `restart` the full length runs again from the end of the pause. An open pause leaves the clock
    without a due time.
    """
    received = require_aware(received_at, "received_at")
    completed = require_aware(completed_at, "completed_at") if completed_at is not None else None
    served = require_aware(served_at, "served_at") if served_at is not None else received
    acknowledged = require_aware(acknowledged_at, "acknowledged_at") if acknowledged_at is not None else None
    if completed is not None and completed < received:
        raise InvalidClockInput("completed_at must not be before received_at")
    if served < received:
        raise InvalidClockInput("served_at must not be before received_at")
    if acknowledged is not None and acknowledged < received:
        raise InvalidClockInput("acknowledged_at must not be before received_at")
    normalized = [_normalize_pause(p) for p in pauses]
    version = version_in_force(regime, received)
    triggers = {"received": received, "completed": completed, "served": served, "acknowledged": acknowledged}
    return [_compute(regime, version, spec, triggers[spec.trigger], normalized) for spec in version.clocks]


def due_at(clocks: Sequence[ClockDue]) -> datetime | None:
    """The earliest due time over all clocks (statutory and internal), or None if none has one."""
    times = [c.due_at for c in clocks if c.due_at is not None]
    return min(times) if times else None


def restore_window(version: RegimeVersion, counter_notice_at: datetime) -> tuple[datetime, datetime]:
    """Earliest and latest restore after a counter-notice (DMCA 512(g): 10 to 14 business days).

    Both are the end of the Nth business day after receipt in the window's time zone and calendar.
    """
    window = version.appeal.restore_window
    if window is None:
        raise InvalidClockInput(f"version '{version.version}' has no counter-notice restore window")
    arrived = require_aware(counter_notice_at, "counter_notice_at")
    zone = ZoneInfo(window.timezone)
    return (
        add_business_days(arrived, window.min, zone, window.calendar),
        add_business_days(arrived, window.max, zone, window.calendar),
    )


def add_calendar_days(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """End (00:00 of the following day, local) of the `days`-th local day after the day of `start`."""
    local_day = start.astimezone(zone).date()
    return _end_of_day(local_day + timedelta(days=days), zone)


def add_business_days(start: datetime, days: int, zone: ZoneInfo, calendar: BusinessCalendar) -> datetime:
    """End of the `days`-th business day after the day of `start`, counted in `zone`.

    Counting starts the day after receipt; Saturdays, Sundays and the calendar's public holidays
    (observed days included) are skipped. The due time is 00:00 local after the last business day.
    """
    public_holidays = calendar.holidays()
    day = start.astimezone(zone).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in public_holidays:
            counted += 1
    return _end_of_day(day, zone)


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _end_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def _normalize_pause(pause: Pause | tuple[datetime, datetime | None]) -> Pause:
    if not isinstance(pause, Pause):
        pause = Pause(pause[0], pause[1])
    start = require_aware(pause.start, "pause start")
    end = require_aware(pause.end, "pause end") if pause.end is not None else None
    if end is not None and end < start:
        raise InvalidClockInput("a pause must not end before it starts")
    return Pause(start, end, pause.reason)


def _nominal_due(spec: ClockSpec, start: datetime, regime: Regime) -> datetime:
    assert spec.length is not None and spec.unit is not None
    zone = ZoneInfo(spec.timezone) if spec.timezone else regime.zone
    if spec.unit == "hours":
        # Elapsed time in UTC: a 48-hour clock is 48 real hours across any DST change.
        return start + timedelta(hours=spec.length)
    if spec.unit == "calendar_days":
        return add_calendar_days(start, int(spec.length), zone)
    assert spec.calendar is not None
    return add_business_days(start, int(spec.length), zone, spec.calendar)


def _merge(pauses: list[Pause], start: datetime) -> list[tuple[datetime, datetime | None]]:
    """Pauses clipped to after `start`, sorted and merged where they overlap."""
    spans = sorted(
        ((max(p.start, start), p.end) for p in pauses if p.end is None or p.end > start),
        key=lambda s: s[0],
    )
    merged: list[tuple[datetime, datetime | None]] = []
    for begin, end in spans:
        if merged:
            last_begin, last_end = merged[-1]
            if last_end is None:
                break
            if begin <= last_end:
                merged[-1] = (last_begin, None if end is None else max(last_end, end))
                continue
        merged.append((begin, end))
    return merged


def _advance(
    start: datetime, running: timedelta, spans: list[tuple[datetime, datetime | None]]
) -> tuple[datetime | None, timedelta]:
    """The instant at which `running` unpaused time has passed since `start`, and the pause time
    that pushed it back; None while an open pause is in the way."""
    target, paused = start + running, timedelta(0)
    for begin, end in spans:
        if begin >= target:
            break
        if end is None:
            return None, paused
        paused += end - begin
        target += end - begin
    return target, paused


def _restart(
    start: datetime, running: timedelta, length: timedelta, spans: list[tuple[datetime, datetime | None]]
) -> tuple[datetime | None, timedelta]:
    """The instant at which `running` time has passed in the run that is current then: each pause
    that begins before the clock runs out ends that run, and a new run of the full `length` starts
    when the pause ends. Returns it with the paused time; None while an open pause is in the way."""
    run_start, paused = start, timedelta(0)
    for begin, end in spans:
        if begin >= run_start + length or run_start + running <= begin:
            break
        if end is None:
            return None, paused
        paused += end - begin
        run_start = end
    return run_start + running, paused


def _compute(
    regime: Regime,
    version: RegimeVersion,
    spec: ClockSpec,
    start: datetime | None,
    pauses: list[Pause],
) -> ClockDue:
    base = ClockDue(
        id=spec.id,
        kind=spec.kind,
        step=spec.step,
        version=version.version,
        trigger=spec.trigger,
        starts_at=start,
        due_at=None,
        reason=None,
        paused_for=timedelta(0),
        alerts=(),
        spec=spec,
    )
    if start is None:
        waiting = {
            "completed": "waiting for the request to be complete (no completed_at yet)",
            "acknowledged": "waiting for the acknowledgement to the reporter (no acknowledged_at yet)",
        }
        return replace(base, reason=waiting.get(spec.trigger, f"waiting for '{spec.trigger}'"))
    if spec.length is None:
        return replace(base, reason=f"no fixed length: {spec.wording}")
    length = _nominal_due(spec, start, regime) - start
    spans = _merge([p for p in pauses if spec.allows_pause(p.reason)], start)

    def reach(running: timedelta) -> tuple[datetime | None, timedelta]:
        if spec.restarts:
            return _restart(start, running, length, spans)
        return _advance(start, running, spans)

    due, paused = reach(length)
    alerts = tuple(
        AlertDue(threshold, reach(length * threshold)[0]) for threshold in version.alerts.thresholds
    )
    reason = None if due is not None else "paused (open pause: the due time moves when it ends)"
    return replace(base, due_at=due, reason=reason, paused_for=paused, alerts=alerts)
