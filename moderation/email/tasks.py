"""Email jobs: `email.deliver_outbox` sends due outbox messages over SMTP."""

from __future__ import annotations

import logging

from moderation.email import smtp
from moderation.email.service import outbox
from moderation.jobs import JobContext, JobResult, job
from moderation.kit.request_context import bound_request_id, current_request_id
from moderation.kit.time import utc_now

log = logging.getLogger("moderation.email")

BATCH = 100


@job("email.deliver_outbox")
def deliver_outbox(ctx: JobContext) -> JobResult:
    """Send due outbox emails over SMTP; failures are retried later with backoff."""
    sent = failed = lost_race = 0
    with ctx.transaction() as session:
        due = outbox.due(session, utc_now(), BATCH)
    for message_id in due:
        # Claim and attempt row commit before any SMTP traffic: a crash after this point leaves
        # evidence (an open attempt) and a lease after which the message is tried again.
        with ctx.transaction() as session:
            outgoing = outbox.claim(
                session, message_id, worker=ctx.worker_id, now=utc_now(), settings=ctx.settings
            )
        if outgoing is None:
            lost_race += 1
            continue
        # Log (and audit) the delivery under the id of the request that decided the email, if any.
        with bound_request_id(outgoing.request_id or current_request_id()):
            try:
                refused = smtp.send(outgoing, ctx.settings)
            except smtp.DeliveryError as exc:
                error = f"{type(exc).__name__}: {exc}"
                with ctx.transaction() as session:
                    retry_at = outbox.record_failure(
                        session,
                        outgoing,
                        worker=ctx.worker_id,
                        now=utc_now(),
                        error=error,
                        settings=ctx.settings,
                    )
                log.warning(
                    "email %s attempt %s failed (%s); retry at %s",
                    outgoing.id,
                    outgoing.attempt_number,
                    error,
                    retry_at,
                )
                failed += 1
                if smtp.server_unreachable(exc):
                    # The server is unreachable: the rest would fail the same way; they wait for the next run.
                    break
                continue
            with ctx.transaction() as session:
                outbox.record_sent(session, outgoing, now=utc_now(), actor=ctx.actor, refused=refused)
            sent += 1
    return {"sent": sent, "failed": failed, "claimed_elsewhere": lost_race}
