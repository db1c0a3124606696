"""Pure arithmetic of an appeal's terms: until when a complaint can be filed against a decision, by
when it must be acknowledged and decided, and the redress wording, from the regimes of the underlying
notice (their `appeal` blocks) or the policy defaults where they are silent.

Several regimes on one notice: the complainant gets the most generous window (the latest close of
any regime that sets one) and the strictest clocks (the earliest due time of any regime that sets
one); each regime's redress lines are given, in the notice's order. The version used is the one in
force when the appeal is filed (the complaint duties of that day apply), or the notice's own version
when the regime is no longer in force then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from moderation.policy.regimes import AppealClock, Period, Regime, RegimeSet, RegimeVersion
from moderation.takedown.clocks import add_business_days, add_calendar_days, iso_utc
from moderation.takedown.evidence import period_end

DEFAULT = "policy default"


@dataclass(frozen=True)
class AppealTerms:
    """The window (from the decision) and the clocks (from the filing) of one appeal, and where each
    came from: `regime@version`, or "policy default"."""

    window_closes_at: datetime
    window: str
    window_source: str
    due_at: datetime
    decision: str
    decision_source: str
    acknowledge_by: datetime | None = None
    redress: tuple[str, ...] = field(default=())

    def details(self) -> dict[str, Any]:
        """For the audit log of the filing."""
        return {
            "window_closes_at": iso_utc(self.window_closes_at),
            "window": self.window,
            "window_source": self.window_source,
            "due_at": iso_utc(self.due_at),
            "decision": self.decision,
            "decision_source": self.decision_source,
            "acknowledge_by": iso_utc(self.acknowledge_by) if self.acknowledge_by else None,
        }


def versions_for_appeal(
    notice_regimes: Sequence[dict[str, Any]], regime_set: RegimeSet, at: datetime
) -> list[tuple[Regime, RegimeVersion]]:
    """The (regime, version) pairs whose complaint terms apply to an appeal filed at `at` against a
    notice received under `notice_regimes` ([{id, version}, ...]); regimes no longer in the policy
    are skipped."""
    pairs = []
    for entry in notice_regimes:
        if entry["id"] not in regime_set:
            continue
        regime = regime_set.get(entry["id"])
        version = regime.version_at(at)
        if version is None:
            try:
                version = regime.version(entry["version"])
            except KeyError:
                continue
        pairs.append((regime, version))
    return pairs


def _describe_period(period: Period) -> str:
    unit = period.unit[:-1] if period.length == 1 else period.unit
    return f"{period.length} {unit}"


def _window_close(decided_at: datetime, period: Period, zone: ZoneInfo) -> datetime:
    # "At least N months": to the end of the local day N months on, in the regime's time zone.
    end = period_end(decided_at.astimezone(zone), period)
    return add_calendar_days(end, 0, zone)


def clock_due(start: datetime, clock: AppealClock, zone: ZoneInfo) -> datetime:
    """Due time of a fixed-length appeal clock started at `start`."""
    assert clock.length is not None and clock.unit is not None
    if clock.unit == "hours":
        return start + timedelta(hours=clock.length)
    if clock.unit == "calendar_days":
        return add_calendar_days(start, int(clock.length), zone)
    assert clock.calendar is not None
    return add_business_days(start, int(clock.length), zone, clock.calendar)


def _describe_clock(clock: AppealClock) -> str:
    if clock.length is None:
        return clock.wording or "no fixed length"
    amount = f"{clock.length:g}"
    unit = (clock.unit or "").replace("_", " ")
    return f"{amount} {unit[:-1] if clock.length == 1 else unit}"


def appeal_terms(
    pairs: Sequence[tuple[Regime, RegimeVersion]],
    *,
    decided_at: datetime,
    filed_at: datetime,
    default_window_days: int,
    default_decision_days: int,
) -> AppealTerms:
    """The terms of an appeal against a decision taken at `decided_at`, filed at `filed_at`. With no
    regime (a check or stay-down block) or silent regimes, the policy defaults apply."""
    window_close = decided_at + timedelta(days=default_window_days)
    window, window_source = f"{default_window_days} days", DEFAULT
    windows = [
        (_window_close(decided_at, v.appeal.window, r.zone), _describe_period(v.appeal.window), r, v)
        for r, v in pairs
        if v.appeal.window is not None
    ]
    if windows:
        window_close, window, regime, version = max(windows, key=lambda w: w[0])
        window_source = f"{regime.id}@{version.version}"

    due = filed_at + timedelta(days=default_decision_days)
    decision, decision_source = f"{default_decision_days} days", DEFAULT
    quoted = [v.appeal.decision.wording for _, v in pairs if v.appeal.decision and v.appeal.decision.wording]
    dues = [
        (clock_due(filed_at, v.appeal.decision, r.zone), _describe_clock(v.appeal.decision), r, v)
        for r, v in pairs
        if v.appeal.decision is not None and v.appeal.decision.length is not None
    ]
    if dues:
        due, decision, regime, version = min(dues, key=lambda d: d[0])
        decision_source = f"{regime.id}@{version.version}"
    elif quoted:
        decision = f"{decision} ({quoted[0]})"

    acks = [
        clock_due(filed_at, v.appeal.acknowledgement, r.zone)
        for r, v in pairs
        if v.appeal.acknowledgement is not None
    ]
    redress: list[str] = []
    for _, version in pairs:
        redress.extend(line for line in version.appeal.redress if line not in redress)
    return AppealTerms(
        window_closes_at=window_close,
        window=window,
        window_source=window_source,
        due_at=due,
        decision=decision,
        decision_source=decision_source,
        acknowledge_by=min(acks) if acks else None,
        redress=tuple(redress),
    )
