"""Reporting jobs: `reporting.submit_reports` (files confirmed cases with the CyberTipline) and
`reporting.purge_files` (drops bytes no preservation or hold needs; carries out destruction requests)."""

from __future__ import annotations

from moderation.jobs import JobContext, JobResult, job
from moderation.reporting.service import reporting
from moderation.reporting.submission import submit_due

SUBMIT_REPORTS = "reporting.submit_reports"
PURGE_FILES = "reporting.purge_files"


@job(SUBMIT_REPORTS)
def submit_reports_job(ctx: JobContext) -> JobResult:
    """File confirmed report cases with the CyberTipline (submit, upload, file details, finish)."""
    run = submit_due(ctx.engine, settings=ctx.settings, worker=ctx.worker_id, actor=ctx.actor)
    result: JobResult = {
        "claimed": run.claimed,
        "filed": run.filed,
        "failed": run.failed,
        "retrying": run.retrying,
    }
    if run.skipped_reason:
        result["skipped"] = run.skipped_reason
    return result


@job(PURGE_FILES, interval_seconds=3600.0)
def purge_files_job(ctx: JobContext) -> JobResult:
    """Drop report files past their preservation and carry out law-enforcement destruction requests."""
    with ctx.transaction() as session:
        purged = reporting.purge(session, actor=ctx.actor)
    return {"purged": purged}
