"""Deciding deadline alerts and daily digests; each decision writes its email to the outbox.

Lifecycle: the takedown feature keeps `next_alert_at` on each running clock (the time of its next
threshold). `alerts.scan` picks the clocks whose time has come, works out every threshold (and the
breach) crossed by now, inserts one `Alert` per (notice, regime, clock, threshold) with ON CONFLICT
DO NOTHING, and for each alert it inserted enqueues the email in the same transaction; then it moves
the clock's marker to the next threshold. A second worker, a retry or a restart finds the alerts
already there and decides nothing twice. `alerts.digest` enqueues one digest per team per local day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from moderation.alerts.repository import alert_repository
from moderation.alerts.routing import recipients
from moderation.audit.service import audit
from moderation.config import Settings
from moderation.email.service import outbox
from moderation.exceptions import ModerationError
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.policy.loader import Policy
from moderation.policy.regimes import Regime, RegimeSet, load_regimes
from moderation.takedown.clocks import Pause, compute_clocks

log = logging.getLogger("moderation.alerts")

BREACH = "breach"


@dataclass(frozen=True)
class Mark:
    """One alert point of a clock: a threshold label ("0.5" or "breach"), its fraction and instant."""

    label: str
    fraction: float
    at: datetime | None


@dataclass(frozen=True)
class ScanResult:
    clocks: int
    alerts: int


def threshold_label(fraction: float) -> str:
    return f"{fraction:g}"


def describe_left(due_at: datetime, now: datetime) -> str:
    """'1h 05m', '2d 3h', '45m'; 'OVERDUE' once the due time has passed."""
    left = due_at - now
    if left <= timedelta(0):
        return "OVERDUE"
    minutes = int(left.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def _fmt(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _parse_instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class AlertService:
    def marks(self, session: Session, notice: Notice, clock: NoticeClock, regime: Regime) -> list[Mark]:
        """Every alert point of `clock` under its regime version: thresholds and (if set) the breach.

        Threshold instants come from the pure clock arithmetic with the notice's pauses, so a pause
        moves them exactly as it moves the due time; a threshold behind an open pause has no instant."""
        version = regime.version(clock.regime_version)
        computed_at: dict[float, datetime | None] | None = None
        try:
            entry = next((e for e in notice.regimes if e.get("id") == clock.regime), {})
            pauses = [
                Pause(p.started_at, p.ended_at, p.reason)
                for p in alert_repository.pauses_of(session, notice.id)
            ]
            computed = compute_clocks(
                regime,
                notice.received_at,
                completed_at=_parse_instant(entry.get("completed_at")),
                served_at=notice.served_at,
                pauses=pauses,
            )
            match = next(c for c in computed if c.id == clock.clock)
            computed_at = {a.threshold: a.at for a in match.alerts}
        except (ModerationError, StopIteration, KeyError, ValueError, TypeError) as exc:
            # The stored clock is still usable: place thresholds proportionally on its span.
            log.warning(
                "notice %s clock %s: thresholds from the stored span (%s)", notice.id, clock.clock, exc
            )
        marks = []
        for fraction in version.alerts.thresholds:
            if computed_at is not None:
                at = computed_at.get(fraction)
            elif clock.starts_at is not None and clock.due_at is not None and not clock.paused:
                at = clock.starts_at + (clock.due_at - clock.starts_at) * fraction
            else:
                at = None
            marks.append(Mark(threshold_label(fraction), fraction, at))
        if version.alerts.breach:
            marks.append(Mark(BREACH, 1.0, None if clock.paused else clock.due_at))
        return marks

    def scan(
        self,
        session: Session,
        *,
        now: datetime,
        policy: Policy,
        settings: Settings,
        actor: str,
        limit: int = 1000,
    ) -> ScanResult:
        """Decide the alerts of every clock whose next alert time has come (see module docstring)."""
        regimes: RegimeSet = policy.part("regimes", load_regimes)
        due = alert_repository.clocks_due(session, now, limit)
        decided = 0
        for clock in due:
            notice = alert_repository.notice(session, clock.notice_id)
            expected = clock.next_alert_at
            if (
                notice is None
                or notice.state not in OPEN_STATES
                or clock.stopped_at is not None
                or clock.regime not in regimes
            ):
                # Stopped or unknown: nothing more to say about this clock.
                alert_repository.advance(
                    session,
                    clock.id,
                    expected_at=expected,
                    last_threshold=None,
                    next_at=None,
                    next_threshold=None,
                )
                continue
            regime = regimes.get(clock.regime)
            marks = self.marks(session, notice, clock, regime)
            crossed = [m for m in marks if m.at is not None and m.at <= now]
            for mark in crossed:
                if self._decide(
                    session,
                    notice,
                    clock,
                    regime,
                    mark,
                    now=now,
                    policy=policy,
                    settings=settings,
                    actor=actor,
                ):
                    decided += 1
            upcoming = sorted(
                (m for m in marks if m.at is not None and m.at > now), key=lambda m: m.at or now
            )
            nxt = upcoming[0] if upcoming else None
            alert_repository.advance(
                session,
                clock.id,
                expected_at=expected,
                last_threshold=max((m.fraction for m in crossed), default=None),
                next_at=nxt.at if nxt else None,
                next_threshold=nxt.fraction if nxt else None,
            )
        return ScanResult(clocks=len(due), alerts=decided)

    def _decide(
        self,
        session: Session,
        notice: Notice,
        clock: NoticeClock,
        regime: Regime,
        mark: Mark,
        *,
        now: datetime,
        policy: Policy,
        settings: Settings,
        actor: str,
    ) -> bool:
        assert mark.at is not None
        due_at = clock.due_at or mark.at
        alert_id = alert_repository.insert_if_absent(
            session,
            {
                "notice_id": notice.id,
                "regime": regime.id,
                "clock_id": clock.clock,
                "threshold": mark.label,
                "team": regime.team,
                "due_at": due_at,
                "crossed_at": mark.at,
                "decided_at": now,
            },
        )
        if alert_id is None:
            return False
        version = regime.version(clock.regime_version)
        is_breach = mark.label == BREACH
        to = recipients(
            settings.alert_routes,
            settings.alert_recipients,
            regime=regime.id,
            team=regime.team,
            escalation=version.alerts.escalation if is_breach else (),
        )
        context = self._alert_context(
            session, notice, clock, regime, mark, due_at, now=now, settings=settings
        )
        key = f"alert:{notice.id}:{regime.id}:{clock.clock}:{mark.label}"
        message_id = outbox.enqueue(
            session,
            key=key,
            kind="alert",
            recipients=to,
            subject=context["subject"],
            text_body=outbox.render("alert.txt", **context),
            html_body=outbox.render("alert.html", **context),
            now=now,
        )
        alert_repository.link_email(session, alert_id, message_id)
        audit.record(
            session,
            actor=actor,
            action="alert.breach" if is_breach else "alert.threshold",
            subject_type="notice",
            subject_id=notice.id,
            details={
                "regime": regime.id,
                "clock": clock.clock,
                "threshold": mark.label,
                "due_at": due_at,
                "recipients": to,
                "email": key,
            },
            policy_version=policy.version,
        )
        return True

    def _alert_context(
        self,
        session: Session,
        notice: Notice,
        clock: NoticeClock,
        regime: Regime,
        mark: Mark,
        due_at: datetime,
        *,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        zone = ZoneInfo(settings.team_timezone)
        left = describe_left(due_at, now)
        threshold = "breach" if mark.label == BREACH else f"{mark.fraction * 100:g}% of the clock"
        if left == "OVERDUE":
            subject = f"[{regime.id}] notice #{notice.id}: OVERDUE, {clock.clock} was due {_fmt(due_at, UTC)}"
        else:
            subject = f"[{regime.id}] notice #{notice.id}: {left} left on {clock.clock} ({threshold})"
        # Only the notice's id, state and clocks: no reporter details, no content, no images.
        return {
            "subject": subject,
            "notice_id": notice.id,
            "state": notice.state,
            "regime_id": regime.id,
            "regime_title": regime.title,
            "team": regime.team,
            "clock": clock.clock,
            "kind": clock.kind,
            "threshold": threshold,
            "breach": mark.label == BREACH,
            "left": left,
            "due_utc": _fmt(due_at, UTC),
            "due_local": _fmt(due_at, zone),
            "timezone": settings.team_timezone,
            "now_utc": _fmt(now, UTC),
            "link": f"{settings.public_url.rstrip('/')}/admin/notices/{notice.id}",
            "clocks": [self._clock_row(c, now, zone) for c in alert_repository.clocks_of(session, notice.id)],
        }

    def _clock_row(self, clock: NoticeClock, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
        if clock.stopped_at is not None:
            status = "met" if clock.met else "stopped"
        elif clock.paused:
            status = "paused"
        elif clock.due_at is None:
            status = clock.reason or "no due time"
        else:
            status = describe_left(clock.due_at, now)
            status = status if status == "OVERDUE" else f"{status} left"
        return {
            "regime": clock.regime,
            "clock": clock.clock,
            "kind": clock.kind,
            "due_utc": _fmt(clock.due_at, UTC),
            "due_local": _fmt(clock.due_at, zone),
            "status": status,
        }

    def digest(
        self, session: Session, *, now: datetime, policy: Policy, settings: Settings, actor: str
    ) -> int:
        """Enqueue today's digest for each team with something overdue or due in the next 24 hours,
        from MODERATION_ALERT_DIGEST_HOUR (team time zone) on; one per team per local day."""
        zone = ZoneInfo(settings.team_timezone)
        local = now.astimezone(zone)
        if local.hour < settings.alert_digest_hour:
            return 0
        regimes: RegimeSet = policy.part("regimes", load_regimes)
        teams: dict[str, list[Regime]] = {}
        for regime in regimes:
            teams.setdefault(regime.team, []).append(regime)
        queued = 0
        for team, members in sorted(teams.items()):
            key = f"digest:{team}:{local.date().isoformat()}"
            if outbox.by_key(session, key) is not None:
                continue
            if self._enqueue_digest(
                session, key, team, members, now=now, zone=zone, policy=policy, settings=settings, actor=actor
            ):
                queued += 1
        return queued

    def _enqueue_digest(
        self,
        session: Session,
        key: str,
        team: str,
        members: Sequence[Regime],
        *,
        now: datetime,
        zone: ZoneInfo,
        policy: Policy,
        settings: Settings,
        actor: str,
    ) -> bool:
        rows = alert_repository.open_clocks_due_before(
            session, now + timedelta(hours=24), [r.id for r in members]
        )
        if not rows:
            return False
        base = settings.public_url.rstrip("/")
        items = [
            {
                "notice_id": notice.id,
                "state": notice.state,
                "regime": clock.regime,
                "clock": clock.clock,
                "kind": clock.kind,
                "due_utc": _fmt(clock.due_at, UTC),
                "due_local": _fmt(clock.due_at, zone),
                "left": describe_left(clock.due_at, now) if clock.due_at else "-",
                "paused": clock.paused,
                "link": f"{base}/admin/notices/{notice.id}",
            }
            for notice, clock in rows
        ]
        overdue = [i for i in items if i["left"] == "OVERDUE"]
        upcoming = [i for i in items if i["left"] != "OVERDUE"]
        context = {
            "team": team,
            "date": now.astimezone(zone).date().isoformat(),
            "timezone": settings.team_timezone,
            "now_utc": _fmt(now, UTC),
            "overdue": overdue,
            "upcoming": upcoming,
            "queue_link": f"{base}/admin/notices",
        }
        subject = (
            f"[{team}] daily digest {context['date']}: {len(overdue)} overdue, {len(upcoming)} due in 24h"
        )
        to = recipients(settings.alert_routes, settings.alert_recipients, regime="", team=team)
        message_id = outbox.enqueue(
            session,
            key=key,
            kind="digest",
            recipients=to,
            subject=subject,
            text_body=outbox.render("digest.txt", **context),
            html_body=outbox.render("digest.html", **context),
            now=now,
        )
        if message_id is None:
            return False
        audit.record(
            session,
            actor=actor,
            action="alert.digest",
            subject_type="team",
            subject_id=team,
            details={"email": key, "overdue": len(overdue), "upcoming": len(upcoming), "recipients": to},
            policy_version=policy.version,
        )
        return True


alerts = AlertService()
