"""The dashboard sign-in flow: nothing slow inside a write transaction.

Three steps, each its own unit of work: claim the attempt (one conditional UPDATE), verify the argon2
hash with no transaction open, then record the outcome and its audit event. On SQLite the write lock
is held for two short statements, never for the password hash."""

from __future__ import annotations

from sqlalchemy import Engine

from moderation.auth.service import SIGN_IN_REFUSED, users
from moderation.config import Settings
from moderation.db import transaction
from moderation.exceptions import Unauthenticated
from moderation.models.user import User

USERNAME_MAX = 100


def sign_in(engine: Engine, *, username: str, password: str, settings: Settings) -> User:
    """The signed-in user; Unauthenticated `invalid_credentials` for every refusal."""
    if not username or not username.isprintable() or len(username) > USERNAME_MAX:
        # No such user can exist (NUL bytes, surrogates, control characters): the same answer, and
        # the same time, as any other refusal; nothing is written.
        users.password_matches(None, password)
        raise Unauthenticated(SIGN_IN_REFUSED, code="invalid_credentials")
    with transaction(engine) as session:
        claim = users.claim_attempt(
            session,
            username=username,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        )
    user_id, password_hash = claim if claim is not None else (None, None)
    verified = users.password_matches(password_hash, password)
    new_hash = users.rehash_if_needed(password_hash, password) if verified and password_hash else None
    with transaction(engine) as session:
        user = users.record_sign_in(
            session, username=username, user_id=user_id, verified=verified, new_hash=new_hash
        )
    if user is None:
        raise Unauthenticated(SIGN_IN_REFUSED, code="invalid_credentials")
    return user
