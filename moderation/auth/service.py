"""API keys and dashboard users: creation, hashing (SHA-256 keys, argon2id passwords), sign-in, roles."""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.auth.repository import api_key_repository, user_repository
from moderation.exceptions import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.api_key import APIKey
from moderation.models.user import User

KEY_PREFIX = "mod_"


class Role(StrEnum):
    """API roles. `admin` may do everything; the others only their own part."""

    CHECKER = "checker"
    INTAKE = "intake"
    ADMIN = "admin"
    # CyberTipline reporting only (docs/reporting.md); the one role `admin` does not stand in for.
    REPORTER = "reporter"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the audit `actor` string and the role."""

    actor: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role != Role.ADMIN and self.role not in roles:
            raise Forbidden(
                f"role '{self.role}' may not do this (needs {' or '.join(sorted({*roles, 'admin'}))})",
                code="forbidden",
            )


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is safe here (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


class PrincipalCache:
    """Keys authenticated recently in this process, by key hash, so that a request does not read the
    database for its key. An entry is trusted for the `ttl` the caller passes (the setting
    `api_key_cache_seconds`): a key revoked by another process is refused within that many seconds; a
    revocation in this process forgets every entry at once. Unknown and revoked keys are never cached."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str, ttl: float) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or ttl <= 0:
            return None
        principal, stored_at = entry
        if self.clock() - stored_at >= ttl:
            self._entries.pop(key_hash, None)
            return None
        return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded; a flood of distinct valid keys only costs lookups again
        self._entries[key_hash] = (principal, self.clock())

    def clear(self) -> None:
        self._entries.clear()


def bearer_token(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; 401 when it is missing or malformed."""
    if not authorization:
        raise Unauthenticated("missing Authorization: Bearer <api key> header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <api key>'")
    return token.strip()


class APIKeyService:
    def __init__(self) -> None:
        self.cache = PrincipalCache()

    def create(self, session: Session, *, name: str, role: str, actor: str) -> tuple[APIKey, str]:
        """Create a key; returns the row and the plain key, which is never stored."""
        if role not in {r.value for r in Role}:
            raise ValidationFailed(f"unknown role '{role}' (one of: {', '.join(r.value for r in Role)})")
        if not name or len(name) > 100:
            raise ValidationFailed("name must be 1-100 characters")
        if api_key_repository.by_name(session, name):
            raise Conflict(f"an API key named '{name}' already exists", code="api_key_exists")
        prefix = secrets.token_hex(4)
        plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key = api_key_repository.add(
            session,
            APIKey(name=name, role=role, prefix=prefix, key_hash=hash_key(plain), created_by=actor),
        )
        audit.record(
            session,
            actor=actor,
            action="apikey.create",
            subject_type="api_key",
            subject_id=name,
            details={"role": role, "prefix": prefix},
        )
        return key, plain

    def revoke(self, session: Session, *, name: str, actor: str) -> APIKey:
        key = api_key_repository.by_name(session, name)
        if key is None:
            raise NotFound(f"no API key named '{name}'", code="api_key_not_found")
        if key.revoked_at is None:
            key.revoked_at = utc_now()
            self.cache.clear()
            audit.record(
                session, actor=actor, action="apikey.revoke", subject_type="api_key", subject_id=name
            )
        return key

    def list(self, session: Session) -> list[APIKey]:
        return api_key_repository.list(session)

    def cached(self, authorization: str | None, cache_seconds: float) -> Principal | None:
        """The caller of a key authenticated within the last `cache_seconds` in this process, without
        the database; None when it must be looked up (`authenticate`). 401 for a malformed header."""
        if cache_seconds <= 0:
            return None
        return self.cache.get(hash_key(bearer_token(authorization)), cache_seconds)

    def authenticate(
        self, session: Session, authorization: str | None, *, cache_seconds: float = 0
    ) -> Principal:
        """Resolve an `Authorization: Bearer <key>` header; 401 for missing, unknown or revoked keys.
        With `cache_seconds` > 0 a valid key is remembered for `cached` (see `PrincipalCache`)."""
        key_hash = hash_key(bearer_token(authorization))
        key = api_key_repository.by_hash(session, key_hash)
        if key is None:
            raise Unauthenticated("invalid API key", code="invalid_api_key")
        if key.revoked_at is not None:
            raise Unauthenticated("this API key has been revoked", code="revoked_api_key")
        principal = Principal(actor=f"apikey:{key.name}", role=key.role)
        if cache_seconds > 0:
            self.cache.put(key_hash, principal)
        return principal


api_keys = APIKeyService()


class UserRole(StrEnum):
    """Dashboard roles: reviewers work the queues, auditors only read, admins do everything."""

    REVIEWER = "reviewer"
    ADMIN = "admin"
    AUDITOR = "auditor"
    REPORTER = "reporter"


_password_hasher = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal which usernames exist.


@functools.cache
def _dummy_hash() -> str:
    """A hash verified for unknown users so that they cost what a wrong password costs; made on first
    use (an argon2 hash takes a fifth of a second, which every CLI command would pay at import)."""
    return _password_hasher.hash("not-a-real-password")


MIN_PASSWORD_LENGTH = 12
# One argon2 verification at a time per process (each is memory-hard and uses several threads): a
# flood of sign-ins queues here instead of taking every core from the rest of the service.
_verifying = threading.BoundedSemaphore(1)
# The one answer to every refused sign-in: it must not tell an unknown user from a locked one.
SIGN_IN_REFUSED = "Sign-in failed: wrong username or password, or the account is locked or disabled."


class UserService:
    def create(self, session: Session, *, username: str, role: str, password: str, actor: str) -> User:
        """Create a dashboard user; the password is stored as an argon2id hash only."""
        if role not in {r.value for r in UserRole}:
            raise ValidationFailed(f"unknown role '{role}' (one of: {', '.join(r.value for r in UserRole)})")
        if not username or len(username) > 100 or not username.isprintable() or " " in username:
            raise ValidationFailed("username must be 1-100 printable characters without spaces")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                f"password must be at least {MIN_PASSWORD_LENGTH} characters", code="weak_password"
            )
        if user_repository.by_username(session, username):
            raise Conflict(f"a user named '{username}' already exists", code="user_exists")
        user = user_repository.add(
            session, User(username=username, role=role, password_hash=_password_hasher.hash(password))
        )
        audit.record(
            session,
            actor=actor,
            action="user.create",
            subject_type="user",
            subject_id=username,
            details={"role": role},
        )
        return user

    def claim_attempt(
        self, session: Session, *, username: str, max_failures: int, lockout_seconds: int
    ) -> tuple[int, str] | None:
        """Step 1 of a sign-in (a short write transaction of its own): count the attempt as failed
        atomically before the password is checked. Returns (user id, password hash) when the password
        may be checked, None for an unknown, disabled or locked account."""
        now = utc_now()
        return user_repository.claim_attempt(
            session,
            username,
            now=now,
            max_failures=max_failures,
            lock_until=now + timedelta(seconds=lockout_seconds),
        )

    def password_matches(self, password_hash: str | None, password: str) -> bool:
        """Step 2, outside any transaction: argon2 verification. Without a hash (no claim) it verifies
        against a dummy hash, so every refusal costs the same time."""
        try:
            return (
                _password_hasher.verify(password_hash or _dummy_hash(), password)
                and password_hash is not None
            )
        except (VerifyMismatchError, InvalidHashError):
            return False

    def rehash_if_needed(self, password_hash: str, password: str) -> str | None:
        """A new hash when the stored one uses outdated parameters (computed outside transactions)."""
        return _password_hasher.hash(password) if _password_hasher.check_needs_rehash(password_hash) else None

    def record_sign_in(
        self,
        session: Session,
        *,
        username: str,
        user_id: int | None,
        verified: bool,
        new_hash: str | None = None,
    ) -> User | None:
        """Step 3 (a short write transaction): audit the outcome; a verified password clears the
        attempt counted in step 1. None for every refusal, whatever the account's state (the caller
        answers `SIGN_IN_REFUSED` after this transaction commits, so the refusal stays audited)."""
        now = utc_now()
        if user_id is not None and verified:
            user = user_repository.clear_failures(session, user_id, now)
            if user is not None:
                if new_hash is not None:
                    user.password_hash = new_hash
                audit.record(
                    session,
                    actor=f"user:{user.username}",
                    action="admin.login",
                    subject_type="user",
                    subject_id=user.username,
                )
                return user
        known = user_repository.by_username(session, username)
        if known is None:
            reason = "unknown_user"
        elif known.disabled_at is not None:
            reason = "disabled"
        elif user_id is None:
            reason = "locked"
        else:
            reason = "bad_password"
        details: dict[str, object] = {"reason": reason}
        if known is not None and reason == "bad_password":
            details.update(failures=known.failed_logins, locked=known.locked_until is not None)
        audit.record(
            session,
            actor=f"user:{known.username}" if known else f"anonymous:{username[:100]}",
            action="admin.login_failed",
            subject_type="user",
            subject_id=username[:100],
            details=details,
        )
        return None

    def sign_out(self, session: Session, user: User) -> None:
        """End every session of this user (the cookie carries the epoch it was issued in)."""
        user.session_epoch += 1
        audit.record(
            session,
            actor=f"user:{user.username}",
            action="admin.logout",
            subject_type="user",
            subject_id=user.username,
        )

    def get(self, session: Session, user_id: int) -> User | None:
        return user_repository.get(session, user_id)

    def list(self, session: Session) -> list[User]:
        return user_repository.list(session)

    def set_disabled(self, session: Session, *, username: str, disabled: bool, actor: str) -> User:
        user = user_repository.by_username(session, username)
        if user is None:
            raise NotFound(f"no user named '{username}'", code="user_not_found")
        user.disabled_at = utc_now() if disabled else None
        user.session_epoch += 1
        audit.record(
            session,
            actor=actor,
            action="user.disable" if disabled else "user.enable",
            subject_type="user",
            subject_id=username,
        )
        return user


users = UserService()
