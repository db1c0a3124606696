"""HTTP endpoints of statements of reasons: read one, list a content id's, email one to the uploader."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from moderation.auth.service import Principal
from moderation.dependencies import ID, DBSession, require_role
from moderation.kit.paging import CURSOR_HELP
from moderation.statements.schemas import EmailQueued, EmailRequest, StatementList, StatementOut
from moderation.statements.service import statements

router = APIRouter()

# The platform shows statements to its users: the keys that check content or send notices read them.
Platform = Annotated[Principal, Depends(require_role("checker", "intake"))]


@router.get("/statements/{statement_id}", response_model=StatementOut)
def get_statement(statement_id: ID, session: DBSession, _: Platform) -> StatementOut:
    """One statement of reasons with its redress options and submission state."""
    return statements.get(session, statement_id)


@router.get("/statements", response_model=StatementList)
def list_statements(
    session: DBSession,
    _: Platform,
    content_id: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
) -> StatementList:
    """Every statement about one platform content id, oldest first (a reversal follows its original);
    keyset paging: pass `next_cursor` as `cursor`."""
    page = statements.page_for_content(session, content_id, cursor=cursor, limit=limit)
    return StatementList(items=page.items, content_id=content_id, limit=limit, next_cursor=page.next_cursor)


@router.post("/statements/{statement_id}/email", response_model=EmailQueued, status_code=202)
def email_statement(
    statement_id: ID, body: EmailRequest, request: Request, session: DBSession, principal: Platform
) -> EmailQueued:
    """Queue the statement to the uploader's address (the platform supplies it; it is not stored
    outside the email outbox). Sending twice to the same address queues one message."""
    queued = statements.email(
        session, statement_id, to=body.to, actor=principal.actor, settings=request.app.state.settings
    )
    return EmailQueued(statement_id=statement_id, queued=queued)
