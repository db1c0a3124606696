"""Matching jobs: `matching.snapshot_index` writes the match index to disk and prunes the change log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import transaction
from moderation.jobs import JobContext, JobResult, job
from moderation.matching.service import MatchService, prune_snapshots, snapshot_directory

SNAPSHOT_INDEX = "matching.snapshot_index"
SNAPSHOT_INTERVAL_SECONDS = 3600.0
# Snapshots kept on disk: a process that started from the previous one may still be reading its
# change log, so the log is pruned only up to the oldest snapshot kept.
KEEP_SNAPSHOTS = 2


def snapshot_index(engine: Engine, settings: Settings) -> JobResult:
    """Build the current state (from the latest snapshot plus the change log, or the database), write it
    as a new snapshot, delete all but the newest `KEEP_SNAPSHOTS`, then prune change-log rows that the
    oldest kept snapshot already covers and that are older than `match_change_retention_seconds`."""
    directory = snapshot_directory(settings)
    builder = MatchService()
    builder.start(engine, background=False, snapshot_dir=directory)
    try:
        info = builder.save_snapshot(directory)
    finally:
        builder.stop()
    kept = prune_snapshots(directory, keep=KEEP_SNAPSHOTS)
    retention = timedelta(seconds=settings.match_change_retention_seconds)
    with transaction(engine) as session:
        pruned = builder.prune_change_log(session, through_seq=min(kept), older_than=retention)
    return {
        "snapshot": info.path.name,
        "entries": info.entries,
        "seconds": round(info.seconds, 2),
        "kept": len(kept),
        "changes_pruned": pruned,
    }


@job(SNAPSHOT_INDEX, interval_seconds=SNAPSHOT_INTERVAL_SECONDS)
def snapshot_index_job(ctx: JobContext) -> JobResult:
    """Write a match index snapshot for fast start-up and prune the bank change log."""
    return snapshot_index(ctx.engine, ctx.settings)
