"""Alert jobs: `alerts.scan_deadlines` (threshold and breach alerts) and `alerts.daily_digest`."""

from __future__ import annotations

from moderation.alerts.service import alerts
from moderation.jobs import JobContext, JobResult, job
from moderation.kit.time import utc_now


@job("alerts.scan_deadlines")
def scan_deadlines(ctx: JobContext) -> JobResult:
    """Decide threshold and breach alerts of running clocks and enqueue their emails."""
    with ctx.transaction() as session:
        result = alerts.scan(
            session, now=utc_now(), policy=ctx.policy, settings=ctx.settings, actor=ctx.actor
        )
    return {"clocks": result.clocks, "alerts": result.alerts}


@job("alerts.daily_digest")
def daily_digest(ctx: JobContext) -> JobResult:
    """Enqueue each team's daily digest of overdue notices and those due within 24 hours."""
    with ctx.transaction() as session:
        queued = alerts.digest(
            session, now=utc_now(), policy=ctx.policy, settings=ctx.settings, actor=ctx.actor
        )
    return {"digests": queued}
