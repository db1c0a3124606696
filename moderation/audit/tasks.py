"""Audit jobs: `audit.export_checkpoint` exports a signed checkpoint of the chain head."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx

from moderation.audit import checkpoints
from moderation.audit.checkpoints import Checkpoint
from moderation.audit.service import audit
from moderation.config import Settings
from moderation.jobs import JobContext, JobResult, job
from moderation.kit.time import utc_now

log = logging.getLogger("moderation.audit")

# Per process: what the last run exported, for deployments that only configure the webhook.
_last_export: dict[str, tuple[int, datetime]] = {}


def _due(settings: Settings, head_id: int, now: datetime) -> bool:
    last = _last_export.get(settings.resolved_database_url)
    if settings.audit_checkpoint_dir is not None:
        latest = settings.audit_checkpoint_dir / checkpoints.LATEST
        if latest.exists():
            try:
                kept = Checkpoint.parse(latest.read_text(), settings.audit_mac_key)
                last = (kept.id, datetime.fromisoformat(kept.exported_at))
            except checkpoints.InvalidCheckpoint:
                last = None
    if last is None:
        return True
    interval = timedelta(seconds=settings.audit_checkpoint_interval_seconds)
    return head_id != last[0] and now - last[1] >= interval


@job("audit.export_checkpoint")
def export_checkpoint(ctx: JobContext) -> JobResult:
    """Export a signed checkpoint of the audit chain head to the checkpoint folder and/or webhook."""
    settings = ctx.settings
    if settings.audit_checkpoint_dir is None and not settings.audit_checkpoint_webhook_url:
        return {"exported": False, "reason": "no checkpoint folder or webhook configured"}
    with ctx.transaction() as session:
        head = audit.head(session)
        head_values = (head.id, head.hash, head.mac) if head is not None else None
    now = utc_now()
    if head_values is None or not _due(settings, head_values[0], now):
        return {"exported": False}
    checkpoint = Checkpoint.sign(
        settings.audit_mac_key, id=head_values[0], hash=head_values[1], mac=head_values[2], exported_at=now
    )
    result: JobResult = {"exported": True, "id": checkpoint.id}
    if settings.audit_checkpoint_dir is not None:
        result["file"] = str(checkpoints.write_file(settings.audit_checkpoint_dir, checkpoint))
    if settings.audit_checkpoint_webhook_url:
        response = httpx.post(
            settings.audit_checkpoint_webhook_url,
            content=checkpoint.to_json(),
            headers={"Content-Type": "application/json"},
            timeout=settings.action_webhook_timeout_seconds,
        )
        # A refused delivery fails the run (the worker logs it); the next run tries again.
        response.raise_for_status()
        result["webhook_status"] = response.status_code
    _last_export[settings.resolved_database_url] = (checkpoint.id, now)
    log.info("audit checkpoint exported at event %s", checkpoint.id)
    return result
