"""FastAPI dependencies shared by every feature: the request transaction and the caller's role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Header, Path, Request
from sqlalchemy.orm import Session

from moderation.auth.service import Principal, api_keys
from moderation.db import session_factory


def _session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, rolled back on any error.
    Runs before the response is sent (scope="function"), so a failed commit is never reported as success."""
    session = session_factory(request.app.state.engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DBSession = Annotated[Session, Depends(_session, scope="function")]


def _read_session(request: Request) -> Iterator[Session]:
    """A session for reads only: on SQLite a deferred transaction, so a long read (the audit chain
    walk, a session lookup) never holds the write lock that every writer queues behind."""
    session = session_factory(request.app.state.read_engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


ReadSession = Annotated[Session, Depends(_read_session, scope="function")]


async def _authorization(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    return authorization


def _lookup_key(request: Request, authorization: str | None) -> Principal:
    # A read-only lookup: on SQLite it must not queue behind writers for the write lock.
    with session_factory(request.app.state.read_engine)() as session:
        return api_keys.authenticate(
            session, authorization, cache_seconds=request.app.state.settings.api_key_cache_seconds
        )


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the bearer key and requires one of `roles` (admin always passes).
    Async, so a request whose key is known already costs no hop to the thread pool."""

    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Depends(_authorization)],
    ) -> Principal:
        # The request guard authenticated write requests before their body was read.
        found = getattr(request.state, "principal", None)
        principal = (
            found
            if isinstance(found, Principal)
            else api_keys.cached(authorization, request.app.state.settings.api_key_cache_seconds)
        )
        if principal is None:
            principal = await anyio.to_thread.run_sync(_lookup_key, request, authorization)
        principal.require(*roles)
        return principal

    return dependency


Admin = Annotated[Principal, Depends(require_role("admin"))]
Checker = Annotated[Principal, Depends(require_role("checker"))]
Intake = Annotated[Principal, Depends(require_role("intake"))]


# Database ids in URLs are bounded by their column type, so an absurd id is a 422, never an overflow
# inside the database driver: INTEGER primary keys (32-bit on PostgreSQL) and BIGINT ones (bank entries).
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1
ID = Annotated[int, Path(ge=1, le=MAX_ID)]
BigID = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
