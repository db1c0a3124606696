"""`GET /v1/audit`: page through the audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from moderation.audit.schemas import AuditEventOut, AuditPage
from moderation.audit.service import audit
from moderation.dependencies import MAX_ID, Admin, DBSession

router = APIRouter()


@router.get("/audit", response_model=AuditPage)
def list_audit_events(
    session: DBSession,
    _: Admin,
    subject_type: Annotated[str | None, Query(max_length=50)] = None,
    subject_id: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
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
