"""Exchange jobs: `exchanges.fetch` fetches every enabled exchange into its bank (each under its own
lease), `exchanges.deliver_feedback` sends due feedback."""

from __future__ import annotations

from moderation.exchanges.feedback import exchange_feedback
from moderation.exchanges.fetching import fetcher
from moderation.jobs import JobContext, JobResult, job


@job("exchanges.fetch")
def fetch_exchanges(ctx: JobContext) -> JobResult:
    """Fetch each enabled exchange that is due from its checkpoint into its bank."""
    reports = fetcher.fetch_all(ctx.transaction, settings=ctx.settings, worker=ctx.worker_id, actor=ctx.actor)
    return {
        "exchanges": len(reports),
        "added": sum(r.added for r in reports),
        "removed": sum(r.removed for r in reports),
        "failed": sum(1 for r in reports if r.error),
    }


@job("exchanges.deliver_feedback")
def deliver_feedback(ctx: JobContext) -> JobResult:
    """Send due feedback (verdicts on exchange entries) to the exchanges that take it."""
    return dict(
        exchange_feedback.deliver(
            ctx.transaction, settings=ctx.settings, worker=ctx.worker_id, actor=ctx.actor
        )
    )
