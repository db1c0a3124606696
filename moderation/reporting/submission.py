"""Files confirmed cases with the CyberTipline: submit -> (upload -> fileinfo)* -> finish.

Idempotent across crashes. Each API call is bracketed by two committed transactions: one that records
the call as `pending_step` and one that stores its answer and clears it. A run that finds a step still
pending does not know the outcome of that call, so:
- `finish` pending: finish again (5102 "already finished" means it was filed);
- anything else pending with a report id: retract that report and start a new one (an unfinished
  report is never filed, and NCMEC deletes it 1 h after its last change in any case);
- `submit` pending without a report id: the report, if it was opened, cannot be named; it is never
  finished, so NCMEC deletes it, and a new one is submitted.
A report id that NCMEC no longer knows (5001, expired) also starts a new report. So exactly one
report per case is ever finished. HTTP happens outside every transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.db import transaction
from moderation.kit import evidence_crypto
from moderation.kit.time import utc_now
from moderation.models.report_case import CaseState, ReportCase
from moderation.reporting.client import CyberTipClient, endpoint
from moderation.reporting.contents import details_document, report_document
from moderation.reporting.documents import file_details_xml, report_xml
from moderation.reporting.errors import ALREADY_FINISHED, NO_SUCH_REPORT, CyberTipError
from moderation.reporting.repository import reporting_repository as repo
from moderation.reporting.schema import SchemaViolation
from moderation.reporting.service import SUBJECT, reporting

ClientFactory = Callable[[Settings], CyberTipClient]


@dataclass
class SubmissionRun:
    claimed: int = 0
    filed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    skipped_reason: str | None = None


def _audit(session: Session, case_id: int, action: str, actor: str, **details: object) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"reporting.{action}",
        subject_type=SUBJECT,
        subject_id=case_id,
        details=details,
    )


class _Step:
    """Records a call as pending before it is made; the answer is stored by the caller afterwards."""

    def __init__(self, engine: Engine, case_id: int) -> None:
        self.engine = engine
        self.case_id = case_id
        # While settling a crashed run's step: a refusal then leaves that step pending.
        self.recovering = False

    @contextlib.contextmanager
    def session(self) -> Iterator[tuple[Session, ReportCase]]:
        with transaction(self.engine) as session:
            case = repo.get_case(session, self.case_id)
            assert case is not None
            yield session, case

    def begin(self, step: str) -> None:
        with self.session() as (session, case):
            repo.set_values(session, case, pending_step=step)


def _restart(session: Session, case: ReportCase, actor: str, why: str) -> None:
    """Forget the unfinished report: its id is kept in `retracted_report_ids`, file ids are cleared."""
    if case.ncmec_report_id is not None:
        case.retracted_report_ids = [*(case.retracted_report_ids or []), case.ncmec_report_id]
    old = case.ncmec_report_id
    repo.set_values(session, case, ncmec_report_id=None, pending_step=None, report_xml=None)
    for file in repo.files(session, case.id):
        repo.set_values(session, file, ncmec_file_id=None, ncmec_md5=None, details_sent_at=None)
    _audit(session, case.id, "report_restarted", actor, previous_report_id=old, why=why)


def _recover(client: CyberTipClient, step: _Step, actor: str) -> bool:
    """Settle a step left pending by a crashed run. True when the case turned out to be filed."""
    with step.session() as (_, case):
        pending, report_id = case.pending_step, case.ncmec_report_id
    if pending is None:
        return False
    step.recovering = True
    if pending == "finish" and report_id is not None:
        try:
            client.finish(report_id)
        except CyberTipError as exc:
            if exc.code != ALREADY_FINISHED:
                raise
        return True
    if report_id is not None:
        try:
            client.retract(report_id)
            why = f"{pending} was interrupted; report retracted"
        except CyberTipError as exc:
            if exc.code == ALREADY_FINISHED:
                return True
            why = f"{pending} was interrupted; retract answered {exc.code}"
    else:
        why = "submit was interrupted before the report id was stored; the unnamed report is never finished"
    with step.session() as (session, case):
        _restart(session, case, actor, why)
    step.recovering = False
    return False


def _file(client: CyberTipClient, step: _Step, settings: Settings, actor: str) -> None:
    with step.session() as (session, case):
        if case.ncmec_report_id is None:
            body = report_xml(report_document(case, settings), now=utc_now())
            repo.set_values(session, case, pending_step="submit", report_xml=body.decode())
        else:
            body = b""
    if body:
        report_id = client.submit(body)
        with step.session() as (session, case):
            repo.set_values(session, case, ncmec_report_id=report_id, pending_step=None)
            _audit(session, case.id, "report_submitted", actor, ncmec_report_id=report_id)
    with step.session() as (session, case):
        file_ids = [f.id for f in repo.files(session, case.id)]
    for file_id in file_ids:
        with step.session() as (session, case):
            file = repo.get_file(session, case.id, file_id)
            assert file is not None and case.ncmec_report_id is not None
            report_id = case.ncmec_report_id
            need_upload = file.ncmec_file_id is None
            need_details = file.details_sent_at is None
            data = None
            if need_upload:
                if file.ciphertext is None:
                    raise CyberTipError(None, f"file {file.id} no longer holds its bytes", 0)
                data = evidence_crypto.decrypt(settings, file.ciphertext)
                repo.set_values(session, case, pending_step=f"upload:{file.id}")
            name = f"case{case.id}-file{file.id}"
        if need_upload:
            assert data is not None
            answer = client.upload(report_id, name, data)
            with step.session() as (session, case):
                file = repo.get_file(session, case.id, file_id)
                assert file is not None
                repo.set_values(session, file, ncmec_file_id=answer.file_id, ncmec_md5=answer.md5)
                repo.set_values(session, case, pending_step=None)
                _audit(
                    session, case.id, "file_uploaded", actor, file_id=file_id, ncmec_file_id=answer.file_id
                )
        if need_details:
            with step.session() as (session, case):
                file = repo.get_file(session, case.id, file_id)
                assert file is not None
                details = file_details_xml(details_document(case, file))
                repo.set_values(session, case, pending_step=f"fileinfo:{file.id}")
            client.file_info(details)
            with step.session() as (session, case):
                file = repo.get_file(session, case.id, file_id)
                assert file is not None
                repo.set_values(session, file, details_sent_at=utc_now())
                repo.set_values(session, case, pending_step=None)
                _audit(
                    session,
                    case.id,
                    "file_details_sent",
                    actor,
                    file_id=file_id,
                    file_viewed_by_esp=file.viewed_at is not None,
                )
    step.begin("finish")
    with step.session() as (_, case):
        finishing = case.ncmec_report_id
    assert finishing is not None
    client.finish(finishing)


def submit_case(
    engine: Engine, case_id: int, *, settings: Settings, client: CyberTipClient, actor: str
) -> str:
    """Run (or resume) one claimed case to its end: `filed`, `failed` (a permanent refusal, shown to
    the reporter with its response code) or `retrying` (transient: next run after the retry delay)."""
    step = _Step(engine, case_id)
    try:
        if not _recover(client, step, actor):
            _file(client, step, settings, actor)
        with step.session() as (session, case):
            reporting.mark_filed(session, case, actor=actor, settings=settings)
        return "filed"
    except CyberTipError as exc:
        with step.session() as (session, case):
            failed_step = case.pending_step
            if exc.code == NO_SUCH_REPORT and case.ncmec_report_id is not None:
                _restart(session, case, actor, "the CyberTipline no longer knows the report (5001)")
            values: dict[str, object] = {"last_error_code": exc.code, "last_error": exc.description[:2000]}
            permanent = exc.permanent or (exc.code is None and exc.http_status == 0)
            if permanent:
                values.update(state=CaseState.FAILED, lease_until=None)
            else:
                values["lease_until"] = utc_now() + timedelta(seconds=settings.ncmec_retry_seconds)
            if not step.recovering and case.pending_step != "finish":
                # The call was answered (refused), so its outcome is known: nothing is left pending.
                # A refused finish, or a refused retry of a crashed run's step, leaves it pending.
                values["pending_step"] = None
            report_id = case.ncmec_report_id
            repo.set_values(session, case, **values)
            _audit(
                session,
                case.id,
                "submission_failed" if permanent else "submission_retrying",
                actor,
                step=failed_step,
                response_code=exc.code,
                http_status=exc.http_status,
                description=exc.description[:500],
            )
        if permanent and report_id is not None:
            # Leave nothing half-filed behind a refusal; a re-confirmed case starts a new report.
            with contextlib.suppress(CyberTipError, httpx.HTTPError):
                client.retract(report_id)
            with step.session() as (session, case):
                _restart(session, case, actor, f"refused with {exc.code}")
        return "failed" if permanent else "retrying"
    except SchemaViolation as exc:
        # Our document breaks the pinned schema (confirmation checks the report, so this is a file's
        # details or a change since): nothing was sent; the reporter sees why and fixes the case.
        with step.session() as (session, case):
            repo.set_values(
                session,
                case,
                state=CaseState.FAILED,
                lease_until=None,
                pending_step=None,
                last_error_code=None,
                last_error=f"not sent: the document breaks the pinned schema: {exc}"[:2000],
            )
            _audit(session, case.id, "submission_failed", actor, step=None, schema_violation=str(exc)[:500])
        return "failed"
    except httpx.HTTPError as exc:
        # The call's outcome is unknown: `pending_step` stays set and the next run settles it.
        with step.session() as (session, case):
            repo.set_values(
                session,
                case,
                last_error_code=None,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                lease_until=utc_now() + timedelta(seconds=settings.ncmec_retry_seconds),
            )
            _audit(
                session,
                case.id,
                "submission_retrying",
                actor,
                step=case.pending_step,
                error=type(exc).__name__,
            )
        return "retrying"


def submit_due(
    engine: Engine,
    *,
    settings: Settings,
    worker: str,
    actor: str,
    client_factory: ClientFactory | None = None,
    limit: int = 5,
) -> SubmissionRun:
    """Claim and file the confirmed cases no live worker holds."""
    run = SubmissionRun()
    if not (settings.ncmec_username and settings.ncmec_password):
        run.skipped_reason = "MODERATION_NCMEC_USERNAME / MODERATION_NCMEC_PASSWORD are not set"
        return run
    with transaction(engine) as session:
        due = repo.due_submissions(session, now=utc_now(), limit=limit)
    if not due:
        return run
    client = (client_factory or (lambda s: CyberTipClient(endpoint(s))))(settings)
    try:
        for case_id in due:
            now = utc_now()
            with transaction(engine) as session:
                claimed = repo.claim(
                    session,
                    case_id,
                    now=now,
                    lease_until=now + timedelta(seconds=settings.ncmec_lease_seconds),
                    worker=worker,
                )
            if not claimed:
                continue
            run.claimed += 1
            outcome = submit_case(engine, case_id, settings=settings, client=client, actor=actor)
            {"filed": run.filed, "failed": run.failed, "retrying": run.retrying}[outcome].append(case_id)
    finally:
        client.close()
    return run
