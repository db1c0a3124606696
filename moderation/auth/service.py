"""API keys: creation (key shown once), hashing, lookup, revocation, and role checks."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.auth.repository import api_key_repository
from moderation.exceptions import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.api_key import APIKey

KEY_PREFIX = "mod_"


class Role(StrEnum):
    """API roles. `admin` may do everything; the others only their own part."""

    CHECKER = "checker"
    INTAKE = "intake"
    ADMIN = "admin"


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


class APIKeyService:
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
            audit.record(
                session, actor=actor, action="apikey.revoke", subject_type="api_key", subject_id=name
            )
        return key

    def list(self, session: Session) -> list[APIKey]:
        return api_key_repository.list(session)

    def authenticate(self, session: Session, authorization: str | None) -> Principal:
        """Resolve an `Authorization: Bearer <key>` header; 401 for missing, unknown or revoked keys."""
        if not authorization:
            raise Unauthenticated("missing Authorization: Bearer <api key> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be 'Bearer <api key>'")
        key = api_key_repository.by_hash(session, hash_key(token.strip()))
        if key is None:
            raise Unauthenticated("invalid API key", code="invalid_api_key")
        if key.revoked_at is not None:
            raise Unauthenticated("this API key has been revoked", code="revoked_api_key")
        return Principal(actor=f"apikey:{key.name}", role=key.role)


api_keys = APIKeyService()
