"""A notice's stored clocks: recomputed from the stored facts after every change, and advanced past
each alert threshold by the alerts feature. The clock arithmetic itself is pure, in clocks.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.kit.time import ensure_utc, utc_now
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.policy.regimes import RegimeSet
from moderation.takedown import steps as clock_steps
from moderation.takedown.clocks import (
    Pause,
    compute_clocks,
    due_at,
)
from moderation.takedown.context import (
    load_notice,
    policy_and_regimes,
)
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.states import CLOCK_STOPPING


def recompute_clocks(session: Session, notice: Notice, regime_set: RegimeSet) -> None:
    """Recompute every clock from the stored facts (receipt, completion, pauses, recorded steps) and
    store them. Each clock stops at the event its step waits for (steps.py)."""
    pauses = [Pause(p.started_at, p.ended_at, p.reason) for p in repo.pauses(session, notice.id)]
    open_reasons = {p.reason for p in pauses if p.end is None}
    previous = {(c.regime, c.clock): c for c in repo.clocks(session, notice.id)}
    removal_stopped_at = (
        (notice.actioned_at or notice.state_changed_at) if notice.state in CLOCK_STOPPING else None
    )
    step_times = clock_steps.first_times(repo.steps(session, notice.id))
    rows: list[NoticeClock] = []
    all_due = []
    running_due = []
    for entry in notice.regimes:
        regime = regime_set.get(entry["id"])
        completed = (
            ensure_utc(datetime.fromisoformat(entry["completed_at"])) if entry["completed_at"] else None
        )
        computed = compute_clocks(
            regime,
            notice.received_at,
            completed_at=completed,
            served_at=notice.served_at,
            pauses=pauses,
            acknowledged_at=step_times.get("acknowledgement"),
        )
        version = regime.version(computed[0].version)
        all_due.extend(computed)
        for clock in computed:
            met = clock_steps.outcome(
                clock.step,
                clock.due_at,
                times=step_times,
                removal_stopped_at=removal_stopped_at,
                decided_at=removal_stopped_at or notice.actioned_at,
                state=notice.state,
                state_changed_at=notice.state_changed_at,
            )
            stopped = met.stopped_at is not None
            if not stopped:
                running_due.append(clock)
            last = previous.get((regime.id, clock.id))
            last_sent = last.last_alert_threshold if last is not None else None
            next_at, next_threshold = None, None
            if not stopped:
                for alert in clock.alerts:
                    if alert.at is not None and (last_sent is None or alert.threshold > last_sent):
                        next_at, next_threshold = alert.at, alert.threshold
                        break
                if (
                    next_at is None
                    and clock.due_at is not None
                    and version.alerts.breach
                    and (last_sent is None or last_sent < 1.0)
                ):
                    next_at, next_threshold = clock.due_at, 1.0
            rows.append(
                NoticeClock(
                    notice_id=notice.id,
                    regime=regime.id,
                    regime_version=clock.version,
                    clock=clock.id,
                    kind=clock.kind,
                    step=clock.step,
                    trigger=clock.trigger,
                    starts_at=clock.starts_at,
                    due_at=clock.due_at,
                    reason=clock.reason,
                    pausable=clock.spec.pausable,
                    paused=any(clock.spec.allows_pause(r) for r in open_reasons) and not stopped,
                    paused_seconds=clock.paused_for.total_seconds(),
                    next_alert_at=next_at,
                    next_alert_threshold=next_threshold,
                    stopped_at=met.stopped_at,
                    met=met.met,
                    in_queue=False,
                    queue_due_at=None,
                )
            )
    # The next step still owed sets the due time; once every clock stopped, the earliest of all.
    notice.due_at = due_at(running_due) if running_due else due_at(all_due)
    if notice.state in OPEN_STATES:
        seen: set[str] = set()
        for row in rows:
            if row.regime not in seen:
                seen.add(row.regime)
                row.in_queue, row.queue_due_at = True, notice.due_at
    repo.replace_clocks(session, notice.id, rows)
    repo.update_notice(session, notice.id, {"due_at": notice.due_at})


def clocks_crossing_threshold(session: Session, *, limit: int = 500) -> list[NoticeClock]:
    """Running clocks whose next alert threshold time is now or past (index-backed scan)."""
    return repo.alerts_due(session, utc_now(), limit)


def mark_alert_sent(session: Session, clock: NoticeClock, *, settings: Settings) -> bool:
    """Advance a clock past the threshold just alerted; False if another worker already did."""
    _, regime_set = policy_and_regimes(settings)
    assert clock.next_alert_at is not None and clock.next_alert_threshold is not None
    sent = clock.next_alert_threshold
    notice = load_notice(session, clock.notice_id)
    if not repo.advance_alert(
        session, clock.id, expected_at=clock.next_alert_at, sent=sent, next_at=None, next_threshold=None
    ):
        return False
    session.refresh(clock)
    recompute_clocks(session, notice, regime_set)
    return True
