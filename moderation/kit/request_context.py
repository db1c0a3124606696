"""The request id of the work in progress: set per HTTP request, per job run, or per delivered row.

A context variable, so each request (asyncio task) and each worker thread sees its own value. Rows
created while an id is bound (audit events, outbox emails, webhook deliveries) store it, and the
worker binds the stored id again while it delivers them, so one id follows a request into its jobs."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

MAX_REQUEST_ID_LENGTH = 64
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_request_id: ContextVar[str | None] = ContextVar("moderation_request_id", default=None)


def current_request_id() -> str | None:
    """The bound request id, or None outside any request or job run."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """A client's `X-Request-ID` when it is short and plain (letters, digits, `._:-`); a new id otherwise,
    so a header can never inject text into logs or overflow the columns that store it."""
    if value and _VALID.match(value):
        return value
    return new_request_id()


@contextlib.contextmanager
def bound_request_id(value: str | None) -> Iterator[str | None]:
    """Bind `value` for the duration of the block (None unbinds), then restore what was bound before."""
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)
