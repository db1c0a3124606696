"""Deciding deadline alerts and daily digests; each decision writes its email to the outbox.

Lifecycle: the takedown feature keeps `next_alert_at`/`next_alert_threshold` on each running clock
(the time of its next threshold; 1.0 is the breach) and recomputes them on every change.
`alerts.scan` takes the clocks whose time has come (`takedown.clocks_crossing_threshold`), has takedown
move the marker on (`takedown.mark_alert_sent`, a conditional UPDATE: a second worker gets False and
leaves the clock alone), and only then inserts one `Alert` per (notice, regime, clock, threshold) with
ON CONFLICT DO NOTHING and enqueues its email in the same transaction. A clock found past several
thresholds at once (a late worker run, a notice entered late) gets one alert, for the most severe
threshold it has reached: the markers of the earlier ones move on silently. A retry or a restart finds
the alerts already there and decides nothing twice. `alerts.digest` enqueues one digest per team per
local day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from moderation.alerts.repository import alert_repository
from moderation.alerts.routing import recipients
from moderation.audit.service import audit
from moderation.config import Settings
from moderation.email.service import outbox
from moderation.kit.time import ensure_utc
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.policy.loader import Policy
from moderation.policy.regimes import Regime, RegimeSet, load_regimes
from moderation.takedown.service import takedown

log = logging.getLogger("moderation.alerts")

BREACH = "breach"
# Upper bound on catch-up rounds in one scan (thresholds per clock, plus the breach, plus slack).
MAX_ROUNDS = 20


@dataclass(frozen=True)
class ScanResult:
    clocks: int
    alerts: int
    # Thresholds passed over because a more severe one of the same clock had been reached too.
    superseded: int = 0


def threshold_label(fraction: float) -> str:
    return f"{fraction:g}"


def describe_span(span: timedelta) -> str:
    """'1h 05m', '2d 3h', '45m' (a positive span, rounded down to the minute)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def describe_left(due_at: datetime, now: datetime) -> str:
    """'1h 05m', '2d 3h', '45m'; 'OVERDUE' once the due time has passed."""
    left = due_at - now
    if left <= timedelta(0):
        return "OVERDUE"
    return describe_span(left)


def _fmt(value: datetime | None, zone: tzinfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


class AlertService:
    def scan(
        self,
        session: Session,
        *,
        now: datetime,
        policy: Policy,
        settings: Settings,
        actor: str,
        limit: int = 500,
    ) -> ScanResult:
        """Decide the alert of every clock whose next threshold time has come (see module docstring).

        The takedown feature moves a clock's marker one threshold at a time, so a clock several
        thresholds behind (a notice entered late) is taken up again in the next round."""
        regimes: RegimeSet = policy.part("regimes", load_regimes)
        seen = decided = superseded = 0
        for _ in range(MAX_ROUNDS):
            due = takedown.clocks_crossing_threshold(session, limit=limit)
            if not due:
                break
            for clock in due:
                seen += 1
                notice = takedown.get(session, clock.notice_id)
                fraction, crossed_at = clock.next_alert_threshold, clock.next_alert_at
                eligible = (
                    notice.state in OPEN_STATES
                    and clock.stopped_at is None
                    and clock.regime in regimes
                    and crossed_at is not None
                    and fraction is not None
                )
                if not takedown.mark_alert_sent(session, clock, settings=settings):
                    continue  # another worker moved this clock on and decides its alert
                if not eligible:
                    continue
                assert fraction is not None and crossed_at is not None
                following = clock.next_alert_at
                if following is not None and ensure_utc(following) <= now:
                    superseded += 1  # the next round alerts the more severe threshold instead
                    continue
                regime = regimes.get(clock.regime)
                if self._decide(
                    session,
                    notice,
                    clock,
                    regime,
                    fraction=fraction,
                    crossed_at=crossed_at,
                    now=now,
                    policy=policy,
                    settings=settings,
                    actor=actor,
                ):
                    decided += 1
        return ScanResult(clocks=seen, alerts=decided, superseded=superseded)

    def _decide(
        self,
        session: Session,
        notice: Notice,
        clock: NoticeClock,
        regime: Regime,
        *,
        fraction: float,
        crossed_at: datetime,
        now: datetime,
        policy: Policy,
        settings: Settings,
        actor: str,
    ) -> bool:
        label = BREACH if fraction >= 1.0 else threshold_label(fraction)
        due_at = clock.due_at or crossed_at
        alert_id = alert_repository.insert_if_absent(
            session,
            {
                "notice_id": notice.id,
                "regime": regime.id,
                "clock_id": clock.clock,
                "threshold": label,
                "team": regime.team,
                "due_at": due_at,
                "crossed_at": crossed_at,
                "decided_at": now,
            },
        )
        if alert_id is None:
            return False
        version = regime.version(clock.regime_version)
        is_breach = label == BREACH
        to = recipients(
            settings.alert_routes,
            settings.alert_recipients,
            regime=regime.id,
            team=regime.team,
            escalation=version.alerts.escalation if is_breach else (),
        )
        context = self._alert_context(
            session, notice, clock, regime, label, fraction, due_at, now=now, settings=settings
        )
        key = f"alert:{notice.id}:{regime.id}:{clock.clock}:{label}"
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
                "threshold": label,
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
        label: str,
        fraction: float,
        due_at: datetime,
        *,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        zone = ZoneInfo(settings.team_timezone)
        left = describe_left(due_at, now)
        overdue_by = describe_span(now - due_at) if left == "OVERDUE" else None
        threshold = "breach" if label == BREACH else f"{fraction * 100:g}% of the clock"
        assignee = notice.assignee or "unassigned"
        items = alert_repository.content_count(session, notice.id)
        if overdue_by is not None:
            subject = (
                f"[{regime.id}] notice #{notice.id}: OVERDUE by {overdue_by} on {clock.clock} "
                f"({assignee}, {items} item{'s' if items != 1 else ''})"
            )
        else:
            subject = f"[{regime.id}] notice #{notice.id}: {left} left on {clock.clock} ({threshold})"
        # Only the notice's id, state, assignee, item count and clocks: no reporter details, no content.
        return {
            "subject": subject,
            "overdue_by": overdue_by,
            "assignee": assignee,
            "items": items,
            "notice_id": notice.id,
            "state": notice.state,
            "regime_id": regime.id,
            "regime_title": regime.title,
            "team": regime.team,
            "clock": clock.clock,
            "kind": clock.kind,
            "threshold": threshold,
            "breach": label == BREACH,
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
