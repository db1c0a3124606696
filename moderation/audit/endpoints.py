"""`GET /v1/audit`: page through the audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from moderation.audit.schemas import AuditEventOut, AuditPage
from moderation.audit.service import audit
from moderation.dependencies import MAX_ID, Admin, DBSession
from moderation.kit.paging import CURSOR_HELP

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
    cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, deprecated=True, description="Deprecated: use `cursor`.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """Newest first. Pass `next_cursor` from one page as `cursor` to get the next (`before_id` with
    `next_before_id` still works, deprecated)."""
    page = audit.events(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        before_id=before_id,
        limit=limit,
    )
    items = [AuditEventOut.model_validate(e) for e in page.items]
    return AuditPage(
        items=items,
        next_cursor=page.next_cursor,
        next_before_id=items[-1].id if page.next_cursor and items else None,
    )
