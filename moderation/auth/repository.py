"""API key storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from moderation.models.api_key import APIKey
from moderation.models.user import User


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


class UserRepository:
    def by_username(self, session: Session, username: str) -> User | None:
        return session.scalars(select(User).where(User.username == username)).first()

    def get(self, session: Session, user_id: int) -> User | None:
        return session.get(User, user_id)

    def add(self, session: Session, user: User) -> User:
        session.add(user)
        session.flush()
        return user

    def list(self, session: Session) -> list[User]:
        return list(session.scalars(select(User).order_by(User.username)).all())

    def record_failure(self, session: Session, user_id: int, locked_until: datetime | None) -> None:
        # A single UPDATE, so concurrent failed attempts all count.
        values: dict[str, object] = {"failed_logins": User.failed_logins + 1}
        if locked_until is not None:
            values["locked_until"] = locked_until
        session.execute(update(User).where(User.id == user_id).values(**values))


user_repository = UserRepository()
