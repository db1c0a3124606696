"""`GET /v1/audit`: page through the audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from moderation.audit.schemas import AuditEventOut, AuditPage
from moderation.audit.service import audit
from moderation.dependencies import Admin, DBSession

router = APIRouter()


@router.get("/audit", response_model=AuditPage)
def list_audit_events(
    session: DBSession,
    _: Admin,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """Newest first. Pass `next_before_id` from one page as `before_id` to get the next."""
    events = audit.page(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    items = [AuditEventOut.model_validate(e) for e in events]
    return AuditPage(items=items, next_before_id=items[-1].id if len(items) == limit else None)
