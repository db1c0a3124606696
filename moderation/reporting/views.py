"""Response shapes of report cases, built from the service's rows (no SQL here beyond the service)."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.orm import Session

from moderation.exceptions import ValidationFailed
from moderation.models.report_case import ReportCase
from moderation.reporting.schemas import (
    AccountDetails,
    ReportCaseOut,
    ReportCasePage,
    ReportCaseSummary,
    ReportFileOut,
    ReportLinkOut,
)
from moderation.reporting.service import reporting


def encode_cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(str(case_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = int(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not valid", code="invalid_cursor") from exc
    if not 1 <= value <= 2**31 - 1:
        raise ValidationFailed("cursor is not valid", code="invalid_cursor")
    return value


def case_out(session: Session, case: ReportCase) -> ReportCaseOut:
    files = reporting.files(session, case)
    links = reporting.links(session, case)
    return ReportCaseOut(
        id=case.id,
        state=case.state,
        source=case.source,
        source_id=case.source_id,
        incident_type=case.incident_type,
        incident_at=case.incident_at,
        account=AccountDetails.model_validate(case.account or {}),
        urls=list(case.urls or []),
        additional_info=case.additional_info,
        escalate_reason=case.escalate_reason,
        opened_at=case.created_at,
        opened_by=case.opened_by,
        confirmed_at=case.confirmed_at,
        confirmed_by=case.confirmed_by,
        environment=case.environment,
        ncmec_report_id=case.ncmec_report_id if case.filed_at else None,
        last_error_code=case.last_error_code,
        last_error=case.last_error,
        filed_at=case.filed_at,
        preserve_until=case.preserve_until,
        legal_hold_until=case.legal_hold_until,
        destruction_requested=case.destruction_request is not None,
        destroyed_at=case.destroyed_at,
        files=[
            ReportFileOut(
                id=f.id,
                sha256=f.sha256,
                md5=f.md5,
                media_type=f.media_type,
                size=f.size,
                content_id=f.content_id,
                uploaded_at=f.uploaded_at,
                held=f.ciphertext is not None,
                viewed_at=f.viewed_at,
                viewed_by=f.viewed_by,
                ncmec_file_id=f.ncmec_file_id,
                purged_at=f.purged_at,
            )
            for f in files
        ],
        links=[
            ReportLinkOut(
                check_id=link.check_id,
                content_id=link.content_id,
                uploader_id=link.uploader_id,
                linked_at=link.created_at,
            )
            for link in links
        ],
    )


def page_out(cases: list[ReportCase], limit: int) -> ReportCasePage:
    return ReportCasePage(
        items=[
            ReportCaseSummary(
                id=c.id,
                state=c.state,
                source=c.source,
                source_id=c.source_id,
                opened_at=c.created_at,
                ncmec_report_id=c.ncmec_report_id if c.filed_at else None,
                last_error_code=c.last_error_code,
            )
            for c in cases
        ],
        next_cursor=encode_cursor(cases[-1].id) if len(cases) == limit else None,
    )
