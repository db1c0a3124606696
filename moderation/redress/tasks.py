"""Redress jobs: `redress.restore_counter_noticed` (restores once a counter-notice's window opens)
and `redress.scan_clocks` (alerts for appeals past due and restore windows about to be missed)."""

from __future__ import annotations

import logging

from moderation.exceptions import ModerationError
from moderation.jobs import JobContext, JobResult, job
from moderation.redress.counter_notices import counter_notices
from moderation.redress.service import appeals

RESTORE_COUNTER_NOTICED = "redress.restore_counter_noticed"
SCAN_CLOCKS = "redress.scan_clocks"
log = logging.getLogger("moderation")


@job(RESTORE_COUNTER_NOTICED)
def restore_counter_noticed(ctx: JobContext) -> JobResult:
    """Restore content whose counter-notice restore window opened with no court action reported."""
    with ctx.transaction() as session:
        due = counter_notices.restorable(session)
    restored = failed = 0
    for counter_id in due:
        try:
            # One transaction each: a restore that fails leaves the others done.
            with ctx.transaction() as session:
                restored += counter_notices.restore_one(
                    session, counter_id, actor=ctx.actor, settings=ctx.settings
                )
        except ModerationError as exc:
            failed += 1
            log.warning("counter-notice %s not restored: %s (%s)", counter_id, exc.message, exc.code)
    return {"restored": restored, "failed": failed}


@job(SCAN_CLOCKS)
def scan_clocks(ctx: JobContext) -> JobResult:
    """Alert once per appeal past due and per counter-notice whose restore window is about to close."""
    with ctx.transaction() as session:
        overdue = appeals.alert_overdue(session, settings=ctx.settings)
        closing = counter_notices.alert_closing(session, settings=ctx.settings)
    return {"appeals_overdue": overdue, "windows_closing": closing}
