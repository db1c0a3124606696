"""Dashboard sessions and CSRF: a signed, HttpOnly, SameSite=Strict cookie carrying the user id, the
user's session epoch (bumped on sign-out) and a random CSRF secret; forms echo an HMAC of it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "moderation_session"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SessionData:
    user_id: int
    epoch: int
    csrf_secret: str


class SessionCodec:
    """Encodes and checks the session cookie; `max_age` bounds its life regardless of the browser."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="moderation.admin.session")
        self._csrf_key = hashlib.sha256(f"csrf:{secret_key}".encode()).digest()
        self.max_age = max_age

    def issue(self, user_id: int, epoch: int) -> tuple[str, SessionData]:
        data = SessionData(user_id=user_id, epoch=epoch, csrf_secret=secrets.token_urlsafe(16))
        token = self._serializer.dumps({"u": data.user_id, "e": data.epoch, "c": data.csrf_secret})
        return token, data

    def read(self, token: str | None) -> SessionData | None:
        if not token:
            return None
        try:
            raw: Any = self._serializer.loads(token, max_age=self.max_age)
            return SessionData(user_id=int(raw["u"]), epoch=int(raw["e"]), csrf_secret=str(raw["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def csrf_token(self, data: SessionData) -> str:
        return hmac.new(self._csrf_key, data.csrf_secret.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, data: SessionData, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(data), token or "")


def login_csrf_token(secret_key: str, nonce: str) -> str:
    """The sign-in form has no session yet: its token is bound to a pre-session nonce cookie."""
    key = hashlib.sha256(f"login-csrf:{secret_key}".encode()).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()
