"""API key storage."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.models.api_key import APIKey


class APIKeyRepository:
    def by_hash(self, session: Session, key_hash: str) -> APIKey | None:
        return session.scalars(select(APIKey).where(APIKey.key_hash == key_hash)).first()

    def by_name(self, session: Session, name: str) -> APIKey | None:
        return session.scalars(select(APIKey).where(APIKey.name == name)).first()

    def add(self, session: Session, key: APIKey) -> APIKey:
        session.add(key)
        session.flush()
        return key

    def list(self, session: Session) -> list[APIKey]:
        return list(session.scalars(select(APIKey).order_by(APIKey.name)).all())


api_key_repository = APIKeyRepository()
