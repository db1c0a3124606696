"""HTTP endpoints of the exchanges feature (/v1/exchanges, admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from moderation.dependencies import ID, Admin, DBSession, ReadSession
from moderation.exchanges import schemas
from moderation.exchanges.feedback import exchange_feedback
from moderation.exchanges.service import exchanges

router = APIRouter(prefix="/exchanges")

Cursor = Annotated[str | None, Query(max_length=20, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=1000)]


class OverturnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Configure an exchange")
def create_exchange(body: schemas.ExchangeCreate, session: DBSession, principal: Admin) -> schemas.Exchange:
    """Configure an exchange filling a bank (created if missing). Credentials come from the
    credentials file by the exchange's name, never from the request."""
    return exchanges.add(session, body, actor=principal.actor)


@router.get("", summary="List exchanges")
def list_exchanges(
    session: ReadSession, principal: Admin, cursor: Cursor = None, limit: Limit = 100
) -> schemas.ExchangePage:
    return exchanges.list(session, cursor=cursor, limit=limit)


@router.get("/{name}", summary="An exchange's status")
def get_exchange(name: str, session: ReadSession, principal: Admin) -> schemas.ExchangeStatus:
    """Configuration, checkpoint, last fetch and error, record, verdict and feedback counts."""
    return exchanges.status(session, name)


@router.patch("/{name}", summary="Switch fetching or feedback")
def update_exchange(
    name: str, body: schemas.ExchangeUpdate, session: DBSession, principal: Admin
) -> schemas.Exchange:
    return exchanges.update(session, name, body, actor=principal.actor)


@router.post("/{name}/fetch", status_code=status.HTTP_202_ACCEPTED, summary="Fetch at the next worker run")
def request_fetch(name: str, session: DBSession, principal: Admin) -> schemas.ExchangeStatus:
    """Make the exchange due: the worker's `exchanges.fetch` job fetches it at its next run (the fetch
    talks to the exchange, so it never runs inside a request)."""
    exchanges.request_fetch(session, name, actor=principal.actor)
    return exchanges.status(session, name)


@router.get("/{name}/records", summary="Provenance of the entries an exchange filled")
def list_records(
    name: str, session: ReadSession, principal: Admin, cursor: Cursor = None, limit: Limit = 100
) -> schemas.ExchangeRecordPage:
    return exchanges.records(session, name, cursor=cursor, limit=limit)


@router.post("/{name}/records/{record_id}/overturn", summary="Mark an exchange entry a false positive")
def overturn_record(
    name: str, record_id: ID, body: OverturnBody, session: DBSession, principal: Admin
) -> schemas.ExchangeRecord:
    """Disable the record's bank entry, count an overturn, and send negative feedback where enabled."""
    record = exchange_feedback.overturn(session, name, record_id, reason=body.reason, actor=principal.actor)
    return schemas.ExchangeRecord.model_validate(record, from_attributes=True)


@router.get("/{name}/feedback", summary="An exchange's feedback outbox")
def list_feedback(
    name: str, session: ReadSession, principal: Admin, cursor: Cursor = None, limit: Limit = 100
) -> schemas.FeedbackPage:
    return exchanges.feedback(session, name, cursor=cursor, limit=limit)
