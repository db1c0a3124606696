"""API key storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, or_, select, update
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

    def claim_attempt(
        self, session: Session, username: str, *, now: datetime, max_failures: int, lock_until: datetime
    ) -> tuple[int, str] | None:
        """Count one sign-in attempt as failed *before* its password is checked, in one conditional
        UPDATE: of any number of parallel attempts at most `max_failures` get a row back (the one that
        reaches the limit also sets the lock). Returns (user id, password hash), or None when the user
        is unknown, disabled or locked. A lock that has expired starts the count again."""
        expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
        count = case((expired, 1), else_=User.failed_logins + 1)
        row = session.execute(
            update(User)
            .where(
                User.username == username,
                User.disabled_at.is_(None),
                or_(User.locked_until.is_(None), User.locked_until <= now),
            )
            .values(
                failed_logins=count,
                locked_until=case((count >= max_failures, lock_until), else_=None),
            )
            .returning(User.id, User.password_hash)
            .execution_options(synchronize_session=False)
        ).first()
        return (row[0], row[1]) if row is not None else None

    def clear_failures(self, session: Session, user_id: int, now: datetime) -> User | None:
        """A verified password: the attempt claimed as failed is taken back and any lock lifted."""
        session.execute(
            update(User)
            .where(User.id == user_id, User.disabled_at.is_(None))
            .values(failed_logins=0, locked_until=None, last_login_at=now)
            .execution_options(synchronize_session=False)
        )
        user = session.get(User, user_id)
        if user is not None:
            session.refresh(user)
        return user


user_repository = UserRepository()
