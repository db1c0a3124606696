"""Dashboard page of hash exchanges: per exchange, the last fetch and error, records, reviewed matches,
confirmations and overturns, and the feedback outbox by state. Admins and auditors may look."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from moderation.admin.pages import ViewerDep, render, require_roles
from moderation.dependencies import DBSession
from moderation.exchanges.schemas import ExchangeStatus
from moderation.exchanges.service import exchanges

router = APIRouter(prefix="/admin", include_in_schema=False)

READERS = ("admin", "auditor")


@router.get("/exchanges", response_class=HTMLResponse)
def exchanges_page(request: Request, session: DBSession, viewer: ViewerDep) -> Response:
    require_roles(viewer, *READERS)
    rows: list[ExchangeStatus] = []
    cursor: str | None = None
    while True:
        page = exchanges.list(session, cursor=cursor, limit=1000)
        rows.extend(exchanges.status(session, item.name) for item in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return render(request, "exchanges.html", viewer, rows=rows)
