"""Statement jobs: `statements.submit_pending` sends pending statements to the DSA Transparency Database.

Safe on several workers: rows are claimed with a conditional UPDATE and the claim is committed before
any HTTP call. Idempotent by puid: a row claimed again (after an outage, a timeout or a worker that
died mid-batch) is looked up by puid first and only sent if the database does not have it; a batch
answered with `existing_puids` marks those as submitted and resends the rest. A batch is stored all or
none, so a statement the API rejects is isolated (by its `statement_<i>` error, or by sending the batch
one by one) and kept as *rejected* with the API's reasons; the others go through.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.db import get_engine, transaction
from moderation.jobs import JobContext, JobResult, job
from moderation.kit.time import utc_now
from moderation.statements.client import Answer, TransparencyClient
from moderation.statements.submission import Claimed, submission_outbox

SUBMIT_PENDING = "statements.submit_pending"
ACTOR = f"system:{SUBMIT_PENDING}"


@dataclass
class SubmissionRun:
    claimed: int = 0
    submitted: int = 0
    already_there: int = 0
    rejected: int = 0
    retrying: int = 0
    requests: int = 0
    skipped_reason: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)


def _errors(value: Any) -> dict[str, list[str]]:
    """The API's per-field messages as {field: [message, ...]}."""
    if not isinstance(value, dict):
        return {"statement": [str(value)[:500]]}
    return {str(k): [str(m)[:500] for m in (v if isinstance(v, list) else [v])] for k, v in value.items()}


class _Submitter:
    def __init__(self, engine: Engine, settings: Settings, client: TransparencyClient, worker: str) -> None:
        self.engine, self.settings, self.client, self.worker = engine, settings, client, worker
        self.run = SubmissionRun()

    def done(self, row: Claimed, outcome: str, **values: Any) -> None:
        self.done_all([(row, outcome, values)])

    def done_all(self, outcomes: list[tuple[Claimed, str, dict[str, Any]]]) -> None:
        """Record outcomes in one transaction (a batch of 100 is one commit, not 100)."""
        now = utc_now()
        with transaction(self.engine) as session:
            for row, outcome, values in outcomes:
                self._record(session, row, outcome, values, now)
        for row, outcome, _ in outcomes:
            setattr(self.run, outcome, getattr(self.run, outcome) + 1)
            self.run.outcomes[row.puid] = outcome

    def _record(
        self, session: Session, row: Claimed, outcome: str, values: dict[str, Any], now: datetime
    ) -> None:
        if outcome == "rejected":
            submission_outbox.rejected(session, row, worker=self.worker, errors=values["errors"], actor=ACTOR)
        elif outcome == "retrying":
            submission_outbox.retry(
                session, row, worker=self.worker, now=now, error=values["error"], settings=self.settings
            )
        else:
            note = "already in the database" if outcome == "already_there" else None
            submission_outbox.submitted(
                session,
                row,
                worker=self.worker,
                now=now,
                uuid=values.get("uuid"),
                permalink=values.get("permalink"),
                note=note,
            )

    def _retry_all(self, rows: list[Claimed], answer: Answer) -> None:
        error = answer.error or f"HTTP {answer.status}"
        if answer.status in (401, 403):
            error = f"token refused (HTTP {answer.status}); check MODERATION_TRANSPARENCY_API_TOKEN"
        self.done_all([(row, "retrying", {"error": error}) for row in rows])

    def send_batch(self, rows: list[Claimed]) -> None:
        if not rows:
            return
        self.run.requests += 1
        answer = self.client.submit_batch([row.payload for row in rows])
        if answer.created:
            stored = {str(s.get("puid")): s for s in answer.body.get("statements", []) if isinstance(s, dict)}
            self.done_all(
                [
                    (
                        row,
                        "submitted",
                        {
                            "uuid": stored.get(row.puid, {}).get("uuid"),
                            "permalink": stored.get(row.puid, {}).get("permalink"),
                        },
                    )
                    for row in rows
                ]
            )
            return
        if answer.status != 422:
            self._retry_all(rows, answer)
            return
        given = answer.body.get("errors")
        errors: dict[str, Any] = given if isinstance(given, dict) else {}
        existing = {str(p) for p in errors.get("existing_puids", []) or []}
        if existing:
            for row in rows:
                if row.puid in existing:
                    self.done(row, "already_there")
            self.send_batch([row for row in rows if row.puid not in existing])
            return
        failing = {i for i in range(len(rows)) if f"statement_{i}" in errors}
        if not failing:
            # The call failed whole without naming a statement: isolate by sending one at a time.
            for row in rows:
                self.send_one(row)
            return
        for i in sorted(failing):
            self.done(rows[i], "rejected", errors=_errors(errors[f"statement_{i}"]))
        self.send_batch([row for i, row in enumerate(rows) if i not in failing])

    def send_one(self, row: Claimed) -> None:
        self.run.requests += 1
        answer = self.client.submit_one(row.payload)
        if answer.created:
            self.done(row, "submitted", uuid=answer.body.get("uuid"), permalink=answer.body.get("permalink"))
        elif answer.status == 422 and isinstance(answer.body.get("existing"), dict):
            self.done(row, "already_there")
        elif answer.status == 422:
            self.done(
                row, "rejected", errors=_errors(answer.body.get("errors") or answer.body.get("message"))
            )
        else:
            self._retry_all([row], answer)


def submit_pending(
    engine: Engine | None = None,
    *,
    settings: Settings,
    client: TransparencyClient | None = None,
    worker: str | None = None,
) -> SubmissionRun:
    """Submit due statements in batches of at most MODERATION_TRANSPARENCY_BATCH_SIZE (<= 100)."""
    if client is None and not (settings.transparency_api_url and settings.transparency_api_token):
        run = SubmissionRun()
        run.skipped_reason = "MODERATION_TRANSPARENCY_API_URL and _TOKEN are not set; statements stay pending"
        return run
    engine = engine or get_engine(settings)
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    own_client = client is None
    client = client or TransparencyClient(
        settings.transparency_api_url or "",
        settings.transparency_api_token or "",
        timeout=settings.transparency_timeout_seconds,
    )
    submitter = _Submitter(engine, settings, client, worker)
    try:
        now = utc_now()
        with transaction(engine) as session:
            due = submission_outbox.due(session, now, settings.transparency_batch_size)
            rows = [
                claimed
                for statement_id, seen in due
                if (
                    claimed := submission_outbox.claim(
                        session, statement_id, seen_attempts=seen, worker=worker, now=now, settings=settings
                    )
                )
                is not None
            ]
        submitter.run.claimed = len(rows)
        fresh: list[Claimed] = []
        for row in rows:
            if not row.after_crash:
                fresh.append(row)
                continue
            # Claimed before: the database may have it already (a crash or timeout after sending).
            submitter.run.requests += 1
            found = client.exists(row.puid)
            if found is True:
                submitter.done(row, "already_there")
            elif found is False:
                fresh.append(row)
            else:
                submitter.done(row, "retrying", error="could not ask the database whether it has this puid")
        submitter.send_batch(fresh)
    finally:
        if own_client:
            client.close()
    return submitter.run


@job(SUBMIT_PENDING)
def submit_pending_job(ctx: JobContext) -> JobResult:
    """Submit pending statements of reasons to the DSA Transparency Database."""
    run = submit_pending(ctx.engine, settings=ctx.settings, worker=ctx.worker_id)
    result: JobResult = {
        "submitted": run.submitted,
        "already_there": run.already_there,
        "rejected": run.rejected,
        "retrying": run.retrying,
    }
    if run.skipped_reason:
        result["skipped"] = run.skipped_reason
    return result
