"""Takedown jobs: `takedown.deliver_webhooks` (the action outbox) and `takedown.purge_evidence`.

Plain functions over an engine, safe to run on several workers at once: each outbox row is claimed
with a conditional UPDATE before it is sent, and the HTTP call happens outside any transaction.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import get_engine, transaction
from moderation.jobs import JobContext, JobResult, job
from moderation.kit.request_context import bound_request_id, current_request_id
from moderation.kit.time import utc_now
from moderation.takedown import webhook
from moderation.takedown.evidence_store import evidence_store
from moderation.takedown.outbox import action_outbox, lease_for

DELIVER_WEBHOOKS = "takedown.deliver_webhooks"
PURGE_EVIDENCE = "takedown.purge_evidence"

Sender = Callable[[str, bytes, dict[str, str], float], webhook.SendResult]


@dataclass
class DeliveryRun:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0
    skipped_reason: str | None = None
    outcomes: list[tuple[int, str]] = field(default_factory=list)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def deliver_webhooks(
    engine: Engine | None = None,
    *,
    settings: Settings,
    worker: str | None = None,
    limit: int = 50,
    send: Sender = webhook.send,
) -> DeliveryRun:
    """Send due outbox rows to MODERATION_ACTION_WEBHOOK_URL, signed, one claimed attempt at a time."""
    engine = engine or get_engine(settings)
    worker = worker or default_worker_id()
    run = DeliveryRun()
    if not settings.action_webhook_url:
        run.skipped_reason = "MODERATION_ACTION_WEBHOOK_URL is not set; actions stay pending"
        return run
    lease = lease_for(settings)
    actor = f"system:{DELIVER_WEBHOOKS}"
    with transaction(engine) as session:
        due = action_outbox.due(session, limit=limit)
    for delivery_id, seen in due:
        with transaction(engine) as session:
            claimed = action_outbox.claim(
                session, delivery_id, seen_attempts=seen, worker=worker, lease=lease
            )
        if claimed is None:
            continue
        # Log (and audit) the delivery under the id of the request that enqueued it.
        with bound_request_id(claimed.request_id or current_request_id()):
            run.claimed += 1
            body = webhook.encode_body(claimed.payload)
            headers = {
                webhook.SIGNATURE_HEADER: webhook.sign(
                    settings.action_webhook_secret, body, int(utc_now().timestamp())
                ),
                webhook.IDEMPOTENCY_HEADER: claimed.idempotency_key,
                webhook.DELIVERY_HEADER: str(claimed.id),
                webhook.ATTEMPT_HEADER: str(claimed.attempt),
            }
            result = send(settings.action_webhook_url, body, headers, settings.action_webhook_timeout_seconds)
            with transaction(engine) as session:
                state = action_outbox.record(
                    session,
                    claimed,
                    worker=worker,
                    ok=result.ok,
                    status_code=result.status_code,
                    error=result.error,
                    actor=actor,
                )
            run.outcomes.append((claimed.id, state))
            if state == "delivered":
                run.delivered += 1
            elif state == "pending":
                run.retrying += 1
            elif state == "failed":
                run.failed += 1
            else:
                run.lost += 1
    return run


def purge_evidence(engine: Engine | None = None, *, limit: int = 500) -> int:
    """Delete the bytes and metadata of evidence that no hold covers any more; returns how many."""
    with transaction(engine or get_engine()) as session:
        return evidence_store.purge(session, actor=f"system:{PURGE_EVIDENCE}", limit=limit)


# --- scheduled jobs (moderation/worker runs them) ----------------------------------------------


@job(DELIVER_WEBHOOKS)
def deliver_webhooks_job(ctx: JobContext) -> JobResult:
    """Send due action webhooks (remove/restore) to the platform, with retries."""
    run = deliver_webhooks(ctx.engine, settings=ctx.settings, worker=ctx.worker_id)
    result: JobResult = {"delivered": run.delivered, "retrying": run.retrying, "failed": run.failed}
    if run.skipped_reason:
        result["skipped"] = run.skipped_reason
    return result


@job(PURGE_EVIDENCE)
def purge_evidence_job(ctx: JobContext) -> JobResult:
    """Delete evidence no hold covers any more."""
    return {"purged": purge_evidence(ctx.engine)}
