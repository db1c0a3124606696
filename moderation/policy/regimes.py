"""Policy part `regimes`: legal and internal takedown regimes from `policies/regimes/*.yaml`."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from moderation.exceptions import NotFound, PolicyError
from moderation.policy.loader import read_yaml, register_part

REGIMES_SUBDIR = "regimes"

ClockKind = Literal["statutory", "internal"]
# What a clock asks for, and so which event meets it: an acknowledgement sent to the reporter, a status
# update sent, a decision recorded, the content removed (or disabled).
ClockStep = Literal["acknowledgement", "status_update", "decision", "removal"]
Trigger = Literal["received", "completed", "served", "acknowledged"]
# What a pause does to a pausable clock once it ends: `extend` adds the paused time to the due time;
# `restart` runs the full length again from the end of the pause (EU TCO Art. 3(7)-(8)).
PauseSemantics = Literal["extend", "restart"]
ClockUnit = Literal["hours", "calendar_days", "business_days"]
RemovalScope = Literal["item", "identical_copies", "substantially_similar"]
Confidence = Literal["confirmed", "secondary", "unverified"]
AppealRoute = Literal[
    "none", "counter_notice", "complaint", "grievance", "review", "internal_appeal", "court"
]
PeriodUnit = Literal["days", "months", "years"]

_IDENT = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


class UnknownRegime(NotFound):
    """A regime id that no policy file defines."""

    code = "unknown_regime"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where a fact comes from, and how sure we are of it."""

    title: str = Field(min_length=1)
    url: str | None = None
    confidence: Confidence


class BusinessCalendar(_Frozen):
    """A public-holiday calendar of the `holidays` library: a country and optional subdivision."""

    country: str = Field(min_length=2)
    subdivision: str | None = None

    def holidays(self) -> holidays.HolidayBase:
        return _holiday_calendar(self.country, self.subdivision)

    def __str__(self) -> str:
        return self.country + (f"-{self.subdivision}" if self.subdivision else "")


class ClockSpec(_Frozen):
    """One clock of a regime version: what starts it, how long it runs and whether it can pause.

    `step` says what the clock asks for (acknowledge, send a status update, decide, remove) and so
    which event meets it. `length` is null for duties with no fixed length ("without undue delay",
    "expeditiously"): such a clock is shown but never has a due time. Hours are elapsed time; day
    units count local days in `timezone` (default: the regime's), business days skip weekends and
    `calendar`'s holidays. `pause_semantics` says whether a pause extends the clock by the paused
    time or restarts it in full when the pause ends.
    """

    id: str
    kind: ClockKind
    step: ClockStep = "removal"
    trigger: Trigger
    length: Annotated[float, Field(gt=0)] | None
    unit: ClockUnit | None = None
    wording: str | None = None
    calendar: BusinessCalendar | None = None
    timezone: str | None = None
    pausable: bool = False
    pause_reasons: tuple[str, ...] = ()
    pause_semantics: PauseSemantics | None = None
    confidence: Confidence
    note: str | None = None

    @property
    def restarts(self) -> bool:
        """Whether the clock runs its full length again after a pause (rather than resuming)."""
        return self.pause_semantics == "restart"

    def allows_pause(self, reason: str | None) -> bool:
        """A pause applies to this clock when it is pausable and the reason (if given) is allowed."""
        return self.pausable and (reason is None or reason in self.pause_reasons)

    def describe_length(self) -> str:
        if self.length is None:
            return self.wording or "no fixed length"
        amount = int(self.length) if float(self.length).is_integer() else self.length
        unit = (self.unit or "").replace("_", " ")
        return f"{amount} {unit[:-1] if amount == 1 else unit}"


class Period(_Frozen):
    """A span such as a preservation period (180 days, 6 months, 1 year). `kind: internal` marks an
    operator choice where the law sets no period (the note says why that length)."""

    length: int = Field(gt=0)
    unit: PeriodUnit
    kind: ClockKind = "statutory"
    confidence: Confidence
    note: str | None = None


class RestoreWindow(_Frozen):
    """Earliest and latest restore after a counter-notice, in business days (DMCA 512(g): 10-14)."""

    min: int = Field(gt=0)
    max: int = Field(gt=0)
    unit: Literal["business_days"] = "business_days"
    calendar: BusinessCalendar
    timezone: str


class AppealClock(_Frozen):
    """A time limit of the complaint (appeal) procedure, counted from its filing: `length` null for a
    duty with no fixed length ("without undue delay"), which then falls back to the policy default
    (MODERATION_APPEAL_DECISION_DAYS) and is only quoted (`wording`)."""

    length: Annotated[float, Field(gt=0)] | None
    unit: ClockUnit | None = None
    calendar: BusinessCalendar | None = None
    wording: str | None = None
    kind: ClockKind = "statutory"
    confidence: Confidence
    note: str | None = None

    def hours(self) -> float:
        """Nominal length in hours (a day, business or not, counts 24), to compare two clocks."""
        assert self.length is not None
        return float(self.length) * (1 if self.unit == "hours" else 24)


class Appeal(_Frozen):
    """The route an uploader (or reporter) has against the decision, and, where the law sets them,
    the complaint window (from the decision), the clocks for acknowledging and deciding a complaint
    (from its filing) and the redress wording the complainant and reporter are given. Each absent
    part falls back to the policy default (MODERATION_APPEAL_WINDOW_DAYS, _DECISION_DAYS)."""

    route: AppealRoute
    description: str | None = None
    restore_window: RestoreWindow | None = None
    window: Period | None = None
    acknowledgement: AppealClock | None = None
    decision: AppealClock | None = None
    redress: tuple[str, ...] = ()
    confidence: Confidence


class Alerts(_Frozen):
    """When to warn before a clock runs out: fractions of the clock, the breach, who hears of breaches."""

    thresholds: tuple[Annotated[float, Field(gt=0, le=1)], ...]
    breach: bool = True
    escalation: tuple[str, ...] = ()


def _effective_date(value: Any) -> Any:
    # A quoted "2026-02-20" is a calendar day, not a naive midnight: keep plain dates as dates.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time with an offset") from None
    return value


EffectiveDate = Annotated[datetime | date, BeforeValidator(_effective_date)]


class RegimeVersion(_Frozen):
    """The rules of a regime over one period of time. The version in force at receipt applies.

    `effective_from` is the first day in force (a date: 00:00 in the regime's time zone; or an instant
    with an offset). `effective_until` is the last day in force, inclusive (a date: the version ends at
    00:00 of the next day in the regime's time zone; or an exclusive end instant with an offset).
    """

    version: str = Field(min_length=1)
    effective_from: EffectiveDate
    effective_until: EffectiveDate | None = None
    confidence: Confidence
    clocks: tuple[ClockSpec, ...] = Field(min_length=1)
    required_fields: tuple[str, ...]
    removal_scope: tuple[RemovalScope, ...] = Field(min_length=1)
    preservation: Period | None
    notify_uploader: bool
    appeal: Appeal
    child_safety_track: bool = False
    alerts: Alerts
    note: str | None = None

    def starts_at(self, zone: ZoneInfo) -> datetime:
        """First instant (UTC) at which this version is in force."""
        return _instant(self.effective_from, zone, end_of_day=False)

    def ends_at(self, zone: ZoneInfo) -> datetime | None:
        """First instant (UTC) at which this version is no longer in force; None if open-ended."""
        if self.effective_until is None:
            return None
        return _instant(self.effective_until, zone, end_of_day=True)

    def clock(self, clock_id: str) -> ClockSpec:
        for spec in self.clocks:
            if spec.id == clock_id:
                return spec
        raise KeyError(clock_id)


class Regime(_Frozen):
    """A takedown regime (a law, or the operator's own terms) with its dated versions."""

    id: str
    title: str = Field(min_length=1)
    jurisdiction: str = Field(min_length=1)
    timezone: str
    team: str = Field(min_length=1)
    review: str = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    unconfirmed: tuple[str, ...] = ()
    notes: str | None = None
    versions: tuple[RegimeVersion, ...] = Field(min_length=1)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def version_at(self, instant: datetime) -> RegimeVersion | None:
        """The version in force at an aware instant, or None when the regime is not in force then."""
        if instant.tzinfo is None:
            raise ValueError("version_at needs a timezone-aware instant")
        zone = self.zone
        for version in self.versions:
            end = version.ends_at(zone)
            if version.starts_at(zone) <= instant and (end is None or instant < end):
                return version
        return None

    def version(self, label: str) -> RegimeVersion:
        """A version by its label (notices store the label they were computed under)."""
        for version in self.versions:
            if version.version == label:
                return version
        raise KeyError(label)


class RegimeSet:
    """Every regime of the policy, by id; immutable after loading."""

    def __init__(self, regimes: dict[str, Regime]) -> None:
        self._regimes = dict(sorted(regimes.items()))

    def get(self, regime_id: str) -> Regime:
        """The regime with this id; `UnknownRegime` (404, listing the valid ids) otherwise."""
        try:
            return self._regimes[regime_id]
        except KeyError:
            raise UnknownRegime(
                f"unknown regime '{regime_id}'; valid ids: {', '.join(self.ids())}",
                details={"regime": regime_id, "valid": self.ids()},
            ) from None

    def ids(self) -> list[str]:
        return list(self._regimes)

    def __iter__(self) -> Iterator[Regime]:
        return iter(self._regimes.values())

    def __len__(self) -> int:
        return len(self._regimes)

    def __contains__(self, regime_id: object) -> bool:
        return regime_id in self._regimes


def _instant(value: datetime | date, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("UTC"))
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))


@functools.lru_cache(maxsize=32)
def _holiday_calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _format_error(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in {"too_short", "string_too_short"}:
        return "must not be empty"
    return str(error["msg"])


def _parse(data: Any, shown: str) -> Regime:
    if not isinstance(data, dict):
        raise PolicyError(f"{shown}: must be a mapping with id, title, versions, ...")
    try:
        return Regime.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A union (e.g. a number or null) reports one error per member: keep the most specific path.
        loc = tuple(p for p in first["loc"] if p not in {"float", "function-after[...]", "none"})
        where = _format_loc(loc) or "(top level)"
        raise PolicyError(f"{shown}: {where}: {_format_error(first)}") from exc


def _check_zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PolicyError(f"{where}: unknown time zone '{name}'") from exc


def _check_calendar(calendar: BusinessCalendar, where: str) -> None:
    try:
        calendar.holidays()
    except NotImplementedError as exc:
        raise PolicyError(f"{where}: no holiday calendar for '{calendar}' ({exc})") from exc


def _check_aware(value: datetime | date | None, where: str) -> None:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise PolicyError(f"{where}: a date-time needs an offset (e.g. +05:30 or Z), or give a plain date")


def _check_clock(clock: ClockSpec, where: str) -> None:
    if not _IDENT.fullmatch(clock.id):
        raise PolicyError(f"{where}.id: '{clock.id}' must be lowercase letters, digits, '-' or '_'")
    if clock.length is None:
        if clock.unit is not None:
            raise PolicyError(f"{where}.unit: must be absent when length is null (no fixed length)")
        if not clock.wording:
            raise PolicyError(f"{where}.wording: required when length is null (quote the legal words)")
    else:
        if clock.unit is None:
            raise PolicyError(f"{where}.unit: required when length is set")
        if clock.unit != "hours" and not float(clock.length).is_integer():
            raise PolicyError(f"{where}.length: must be a whole number of {clock.unit}")
    if clock.unit == "business_days" and clock.calendar is None:
        raise PolicyError(f"{where}.calendar: required for business_days (a holidays country code)")
    if clock.calendar is not None:
        if clock.unit != "business_days":
            raise PolicyError(f"{where}.calendar: only business_days clocks use a holiday calendar")
        _check_calendar(clock.calendar, f"{where}.calendar")
    if clock.timezone is not None:
        _check_zone(clock.timezone, f"{where}.timezone")
    if clock.pausable and not clock.pause_reasons:
        raise PolicyError(f"{where}.pause_reasons: a pausable clock must list its pause reasons")
    if clock.pausable and clock.pause_semantics is None:
        raise PolicyError(f"{where}.pause_semantics: a pausable clock must say extend or restart")
    if not clock.pausable and clock.pause_reasons:
        raise PolicyError(f"{where}.pause_reasons: only allowed when pausable is true")
    if not clock.pausable and clock.pause_semantics is not None:
        raise PolicyError(f"{where}.pause_semantics: only allowed when pausable is true")
    for j, reason in enumerate(clock.pause_reasons):
        if not _IDENT.fullmatch(reason):
            raise PolicyError(f"{where}.pause_reasons[{j}]: '{reason}' must be an identifier")


def _check_appeal_clock(clock: AppealClock, where: str) -> None:
    if clock.length is None:
        if clock.unit is not None or clock.calendar is not None:
            raise PolicyError(f"{where}.unit: must be absent when length is null (no fixed length)")
        if not clock.wording:
            raise PolicyError(f"{where}.wording: required when length is null (quote the legal words)")
        return
    if clock.unit is None:
        raise PolicyError(f"{where}.unit: required when length is set")
    if clock.unit != "hours" and not float(clock.length).is_integer():
        raise PolicyError(f"{where}.length: must be a whole number of {clock.unit}")
    if clock.unit == "business_days" and clock.calendar is None:
        raise PolicyError(f"{where}.calendar: required for business_days (a holidays country code)")
    if clock.calendar is not None:
        if clock.unit != "business_days":
            raise PolicyError(f"{where}.calendar: only business_days clocks use a holiday calendar")
        _check_calendar(clock.calendar, f"{where}.calendar")


def _check_appeal(appeal: Appeal, where: str) -> None:
    timed = {"window": appeal.window, "acknowledgement": appeal.acknowledgement, "decision": appeal.decision}
    if appeal.route == "none":
        for name, value in timed.items():
            if value is not None:
                raise PolicyError(f"{where}.{name}: a regime with route 'none' has no complaint procedure")
        if appeal.redress:
            raise PolicyError(f"{where}.redress: a regime with route 'none' has no redress wording")
    for name in ("acknowledgement", "decision"):
        clock = timed[name]
        if isinstance(clock, AppealClock):
            _check_appeal_clock(clock, f"{where}.{name}")
    ack, decision = appeal.acknowledgement, appeal.decision
    if ack is not None and ack.length is None:
        raise PolicyError(f"{where}.acknowledgement.length: an acknowledgement clock needs a length")
    if (
        ack is not None
        and decision is not None
        and decision.length is not None
        and (ack.hours() > decision.hours())
    ):
        raise PolicyError(
            f"{where}.acknowledgement: must not be longer than the decision clock "
            f"({ack.length:g} {ack.unit} > {decision.length:g} {decision.unit})"
        )
    for i, line in enumerate(appeal.redress):
        if not line.strip():
            raise PolicyError(f"{where}.redress[{i}]: must not be empty")


def _check_version(version: RegimeVersion, where: str) -> None:
    _check_aware(version.effective_from, f"{where}.effective_from")
    _check_aware(version.effective_until, f"{where}.effective_until")
    seen: set[str] = set()
    for i, clock in enumerate(version.clocks):
        if clock.id in seen:
            raise PolicyError(f"{where}.clocks[{i}].id: duplicate clock id '{clock.id}'")
        seen.add(clock.id)
        _check_clock(clock, f"{where}.clocks[{i}]")
        if clock.trigger == "acknowledged" and not any(c.step == "acknowledgement" for c in version.clocks):
            raise PolicyError(
                f"{where}.clocks[{i}].trigger: 'acknowledged' needs an acknowledgement clock in the version"
            )
    for i, field in enumerate(version.required_fields):
        if not _IDENT.fullmatch(field):
            raise PolicyError(f"{where}.required_fields[{i}]: '{field}' must be an identifier")
    if len(set(version.required_fields)) != len(version.required_fields):
        raise PolicyError(f"{where}.required_fields: listed twice")
    if "item" not in version.removal_scope:
        raise PolicyError(f"{where}.removal_scope: must include 'item'")
    if len(set(version.removal_scope)) != len(version.removal_scope):
        raise PolicyError(f"{where}.removal_scope: listed twice")
    thresholds = version.alerts.thresholds
    if list(thresholds) != sorted(set(thresholds)):
        raise PolicyError(f"{where}.alerts.thresholds: must be strictly increasing")
    if any(not name.strip() for name in version.alerts.escalation):
        raise PolicyError(f"{where}.alerts.escalation: recipients must not be empty")
    _check_appeal(version.appeal, f"{where}.appeal")
    window = version.appeal.restore_window
    if window is not None:
        if window.min > window.max:
            raise PolicyError(f"{where}.appeal.restore_window.min: must be <= max")
        _check_calendar(window.calendar, f"{where}.appeal.restore_window.calendar")
        _check_zone(window.timezone, f"{where}.appeal.restore_window.timezone")


def _check_regime(regime: Regime, expected_id: str, shown: str) -> None:
    if regime.id != expected_id:
        raise PolicyError(f"{shown}: id: '{regime.id}' must match the file name ('{expected_id}')")
    if not _IDENT.fullmatch(regime.id):
        raise PolicyError(f"{shown}: id: '{regime.id}' must be lowercase letters, digits and '-'")
    zone = _check_zone(regime.timezone, f"{shown}: timezone")
    labels: set[str] = set()
    for i, version in enumerate(regime.versions):
        where = f"{shown}: versions[{i}]"
        if version.version in labels:
            raise PolicyError(f"{where}.version: duplicate version label '{version.version}'")
        labels.add(version.version)
        _check_version(version, where)
        start, end = version.starts_at(zone), version.ends_at(zone)
        if end is not None and end <= start:
            raise PolicyError(f"{where}.effective_until: must not be before effective_from")
        if i > 0:
            previous = regime.versions[i - 1]
            prev_end = previous.ends_at(zone)
            if start <= previous.starts_at(zone):
                raise PolicyError(f"{where}.effective_from: versions must be in order of effective date")
            if prev_end is None or start < prev_end:
                raise PolicyError(
                    f"{where}.effective_from: overlaps versions[{i - 1}] "
                    f"('{previous.version}' is still in force then; give it an effective_until)"
                )


def display_path(path: Path, policies_dir: Path) -> str:
    """How errors name a file: relative to the policy directory's parent (`policies/regimes/x.yaml`)."""
    try:
        return path.relative_to(policies_dir.parent).as_posix()
    except ValueError:
        return str(path)


def load_regime_file(path: Path, policies_dir: Path) -> Regime:
    """Parse and validate one regime file; `PolicyError` names the file and the field."""
    shown = display_path(path, policies_dir)
    regime = _parse(read_yaml(path), shown)
    _check_regime(regime, path.stem, shown)
    return regime


def load_regimes(policies_dir: Path) -> RegimeSet:
    """Load every `regimes/*.yaml` under the policy directory into a `RegimeSet`."""
    folder = policies_dir / REGIMES_SUBDIR
    shown = display_path(folder, policies_dir)
    if not folder.is_dir():
        raise PolicyError(f"{shown}: regime directory is missing")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise PolicyError(f"{shown}: no regime files (*.yaml)")
    regimes: dict[str, Regime] = {}
    for path in files:
        regime = load_regime_file(path, policies_dir)
        if regime.id in regimes:
            raise PolicyError(f"{display_path(path, policies_dir)}: id: duplicate regime id '{regime.id}'")
        regimes[regime.id] = regime
    return RegimeSet(regimes)


register_part("regimes", load_regimes)
