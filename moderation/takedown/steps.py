"""Multi-step clocks: which event meets a clock of each step (acknowledgement, status update,
decision, removal), read from the steps recorded on a notice and the notice's own state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from moderation.models.notice_step import NoticeStep

# Steps recorded as events; a removal is met by the notice's own action (or its rejection).
RECORDABLE_STEPS = ("acknowledgement", "status_update", "decision")
# Once a notice is rejected or closed, nothing more is asked of it: its clocks stop alerting.
FINISHED_STATES = frozenset({"rejected", "closed"})


@dataclass(frozen=True)
class StepOutcome:
    """When a clock stopped (None while it runs) and whether it was met in time (None while running)."""

    stopped_at: datetime | None
    met: bool | None


def first_times(steps: Iterable[NoticeStep]) -> dict[str, datetime]:
    """The first time each step was recorded on the notice."""
    first: dict[str, datetime] = {}
    for row in sorted(steps, key=lambda s: s.recorded_at):
        first.setdefault(row.step, row.recorded_at)
    return first


def outcome(
    step: str,
    due_at: datetime | None,
    *,
    times: dict[str, datetime],
    removal_stopped_at: datetime | None,
    decided_at: datetime | None,
    state: str,
    state_changed_at: datetime,
) -> StepOutcome:
    """Whether a clock of `step` is met. A removal clock stops when the notice is actioned, rejected
    or closed (`removal_stopped_at`). A decision clock stops at the first decision recorded, or when
    the notice was actioned or rejected (`decided_at`: both are decisions, and stay so through an
    appeal). Acknowledgement and status-update clocks
    stop at the first such step recorded; when the notice is rejected or closed without one they stop
    too (no more alerts) but count as not met."""
    if step == "removal":
        if removal_stopped_at is None:
            return StepOutcome(None, None)
        return StepOutcome(removal_stopped_at, due_at is None or removal_stopped_at <= due_at)
    event = times.get(step)
    if step == "decision" and decided_at is not None:
        event = min(event, decided_at) if event is not None else decided_at
    if event is not None:
        return StepOutcome(event, due_at is None or event <= due_at)
    if state in FINISHED_STATES:
        return StepOutcome(state_changed_at, False)
    return StepOutcome(None, None)
