"""HTTP endpoints of mandatory reporting: report cases, their files, confirmation, holds, destruction.

Every route but the account details needs the `reporter` role itself (an admin key is refused);
every read is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from moderation.auth.service import Principal
from moderation.dependencies import ID, DBSession, require_role
from moderation.reporting.schemas import (
    AccountAccepted,
    AccountDetails,
    CaseUpdate,
    DestructionRequest,
    Dismissal,
    LegalHold,
    NoticeCaseCreate,
    ReportCaseOut,
    ReportCasePage,
)
from moderation.reporting.service import ensure_account_writer, ensure_reporter, reporting
from moderation.reporting.views import case_out, decode_cursor, page_out

router = APIRouter()


def _reporter(principal: Annotated[Principal, Depends(require_role("reporter"))]) -> Principal:
    ensure_reporter(principal)
    return principal


def _account_writer(
    principal: Annotated[Principal, Depends(require_role("reporter", "intake"))],
) -> Principal:
    ensure_account_writer(principal)
    return principal


ReporterKey = Annotated[Principal, Depends(_reporter)]
AccountWriter = Annotated[Principal, Depends(_account_writer)]


@router.get("/reporting/cases", response_model=ReportCasePage)
def list_cases(
    session: DBSession,
    principal: ReporterKey,
    state: Annotated[str | None, Query(pattern=r"^(open|confirmed|failed|filed|dismissed)$")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReportCasePage:
    """Report cases, newest first, keyset-paged (`cursor` from `next_cursor`)."""
    cases = reporting.list_cases(
        session, principal=principal, state=state, after_id=decode_cursor(cursor), limit=limit
    )
    return page_out(cases, limit)


@router.post("/reporting/cases", response_model=ReportCaseOut, status_code=201)
def open_notice_case(
    request: Request, body: NoticeCaseCreate, session: DBSession, principal: ReporterKey
) -> ReportCaseOut:
    """Open the case of a child-safety notice (the existing case when there is one)."""
    case = reporting.open_from_notice(
        session, body.notice_id, principal=principal, settings=request.app.state.settings
    )
    return case_out(session, case)


@router.get("/reporting/cases/{case_id}", response_model=ReportCaseOut)
def get_case(case_id: ID, session: DBSession, principal: ReporterKey) -> ReportCaseOut:
    """One case with its files (never their bytes), later matches linked to it and its report id."""
    return case_out(session, reporting.read_case(session, case_id, principal=principal))


@router.get("/reporting/cases/{case_id}/files/{file_id}")
def view_file(
    request: Request, case_id: ID, file_id: ID, session: DBSession, principal: ReporterKey
) -> Response:
    """The whole file. Opening it records that a person viewed it (the report's fileViewedByEsp)."""
    file, data = reporting.view_file(
        session, case_id, file_id, principal=principal, settings=request.app.state.settings
    )
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="case{case_id}-file{file.id}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.patch("/reporting/cases/{case_id}", response_model=ReportCaseOut)
def update_case(case_id: ID, body: CaseUpdate, session: DBSession, principal: ReporterKey) -> ReportCaseOut:
    """Set the incident type, time, URLs, escalation reason or additional information (open cases)."""
    return case_out(session, reporting.update(session, case_id, body, principal=principal))


@router.put("/reporting/cases/{case_id}/account", response_model=AccountAccepted)
def set_account(
    case_id: ID, body: AccountDetails, session: DBSession, principal: AccountWriter
) -> AccountAccepted:
    """The platform's details of the reported account, before filing (reporter or intake keys;
    write-only: the answer carries nothing of the case)."""
    case = reporting.set_account(session, case_id, body, principal=principal)
    return AccountAccepted(id=case.id, state=case.state)


@router.post("/reporting/cases/{case_id}/confirm", response_model=ReportCaseOut)
def confirm_case(request: Request, case_id: ID, session: DBSession, principal: ReporterKey) -> ReportCaseOut:
    """Confirm the case: the worker files the report (`reporting.submit_reports`)."""
    return case_out(
        session, reporting.confirm(session, case_id, principal=principal, settings=request.app.state.settings)
    )


@router.post("/reporting/cases/{case_id}/dismiss", response_model=ReportCaseOut)
def dismiss_case(case_id: ID, body: Dismissal, session: DBSession, principal: ReporterKey) -> ReportCaseOut:
    """Not reportable: the case is closed and its file bytes purged."""
    return case_out(session, reporting.dismiss(session, case_id, body.reason, principal=principal))


@router.post("/reporting/cases/{case_id}/legal-hold", response_model=ReportCaseOut)
def legal_hold(case_id: ID, body: LegalHold, session: DBSession, principal: ReporterKey) -> ReportCaseOut:
    """Keep the case's contents beyond the one-year preservation."""
    return case_out(session, reporting.legal_hold(session, case_id, body, principal=principal))


@router.post("/reporting/cases/{case_id}/destruction-request", response_model=ReportCaseOut)
def destruction_request(
    case_id: ID, body: DestructionRequest, session: DBSession, principal: ReporterKey
) -> ReportCaseOut:
    """Record a law-enforcement request to destroy the contents; `reporting.purge_files` carries it out."""
    return case_out(session, reporting.request_destruction(session, case_id, body, principal=principal))
