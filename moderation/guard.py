"""The ASGI guard in front of every route: authentication before any body is read, a body limit per
route class (413 `request_too_large`, counted while the body streams, nothing buffered here) and the
security headers of every response.

FastAPI parses a body before it resolves the endpoint's dependencies, so without this an anonymous
client could make the server read (and spool) hundreds of megabytes before the 401."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from moderation.admin.security import COOKIE_NAME, SessionCodec
from moderation.auth.service import Principal, api_keys
from moderation.config import Settings
from moderation.db import session_factory
from moderation.exceptions import ModerationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Room for the text fields and JSON around an image (reporter, statements, metadata).
BODY_OVERHEAD_BYTES = 1024 * 1024
LOGIN_BODY_BYTES = 16 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# Pages frame nothing and are framed by nothing; the dashboard needs only its own scripts and styles.
ADMIN_CSP = b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
API_CSP = b"default-src 'none'; frame-ancestors 'none'"

_IMPORT = re.compile(r"^/(v1|admin)/banks/[^/]+/import$")
_BATCH = re.compile(r"^/v1/check/batch$")
_IMAGE = re.compile(
    r"^(/v1/check|/v1/notices|/v1/notices/\d+/content/\d+/image|/v1/banks/[^/]+/entries/image"
    r"|/admin/notices/new|/admin/banks/[^/]+/image)$"
)


MAX_JSON_DEPTH = 32


class UnstorableJSON(ModerationError):
    """A JSON body holds a value no database column can store the same way on SQLite and PostgreSQL."""

    code = "invalid_json_value"
    status = 422


async def reject_unstorable_json(request: Request) -> None:
    """An application-wide dependency: a JSON body may not hold NUL characters or lone surrogates in any
    string (key or value), non-finite numbers (`NaN`, `Infinity`, `1e400`) or nesting deeper than
    `MAX_JSON_DEPTH`. FastAPI has parsed the body by now; this walks it once, without recursion."""
    if request.method not in WRITE_METHODS:
        return
    if not request.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        return
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - malformed JSON is the route's own 400/422 to give
        return
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise UnstorableJSON("numbers must be finite (no NaN, Infinity or 1e400)")
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise UnstorableJSON(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise UnstorableJSON("text may not contain NUL characters (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnstorableJSON("text may not contain lone UTF-16 surrogates") from None


class BodyTooLarge(StarletteHTTPException):
    """Raised from the counting `receive` the moment a body passes its route's limit; FastAPI lets
    HTTP exceptions through its body parser, so the client gets 413 `request_too_large`."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes for this route")


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each route class may send, from settings."""

    plain: int
    image: int
    batch: int
    bank_import: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        image = (settings.max_image_bytes * 4) // 3 + BODY_OVERHEAD_BYTES  # base64 in JSON, or multipart
        return cls(
            plain=settings.max_body_bytes,
            image=max(image, settings.max_body_bytes),
            batch=settings.max_batch_images * settings.max_image_bytes + BODY_OVERHEAD_BYTES,
            bank_import=settings.max_import_bytes,
        )

    def for_path(self, path: str) -> int:
        if path == "/admin/login":
            return LOGIN_BODY_BYTES
        if _IMPORT.match(path):
            return self.bank_import
        if _BATCH.match(path):
            return self.batch
        if _IMAGE.match(path):
            return self.image
        return self.plain


def _json_response(status: int, code: str, message: str, extra_headers: list[tuple[bytes, bytes]]) -> Any:
    body = json.dumps({"code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers + extra_headers, body


class RequestGuard:
    """ASGI middleware; see the module docstring. `principal` is left in the request state so the
    endpoint's role check does not look the key up a second time."""

    def __init__(self, app: ASGIApp, settings: Settings, read_engine: Any) -> None:
        self.app = app
        self.settings = settings
        self.read_engine = read_engine
        self.limits = BodyLimits.from_settings(settings)
        self.codec = SessionCodec(settings.secret_key, settings.session_max_age_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            # No route takes a NUL byte in its path or query; refused before any lookup uses it.
            await _send_refusal(
                send, *_json_response(400, "invalid_text", "NUL bytes are not allowed in URLs", [])
            )
            return
        csp = ADMIN_CSP if path.startswith("/admin") else API_CSP
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                message["headers"] = headers
            await send(message)

        if scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send_with_headers)
            return

        refusal = await self._refuse_before_body(scope, path)
        if refusal is not None:
            await _send_refusal(send_with_headers, *refusal)
            return
        limit = self.limits.for_path(path)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_refusal(
                send_with_headers,
                *_json_response(
                    413,
                    "request_too_large",
                    f"the request body is larger than the limit of {limit} bytes for this route",
                    [(b"connection", b"close")],
                ),
            )
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except BodyTooLarge as exc:
            if started:
                raise
            await _send_refusal(
                send_with_headers,
                *_json_response(413, "request_too_large", str(exc.detail), [(b"connection", b"close")]),
            )

    async def _refuse_before_body(self, scope: Scope, path: str) -> tuple[int, list[Any], bytes] | None:
        """Who may send a body: a valid API key under /v1, a signed session (or, for the sign-in form,
        its nonce cookie) under /admin. Nothing of the body has been read when this answers."""
        if path.startswith("/v1/"):
            authorization = _header(scope, b"authorization")
            try:
                # A key seen within the last few seconds needs neither the database nor a thread.
                principal = api_keys.cached(authorization, self.settings.api_key_cache_seconds)
                if principal is None:
                    principal = await anyio.to_thread.run_sync(self._authenticate, authorization)
            except ModerationError as exc:
                return _json_response(exc.status, exc.code, exc.message, [(b"connection", b"close")])
            scope.setdefault("state", {})["principal"] = principal
            return None
        if path.startswith("/admin/"):
            cookies = _cookies(scope)
            if path == "/admin/login":
                allowed = bool(cookies.get("moderation_login_nonce"))
            else:
                allowed = self.codec.read(cookies.get(COOKIE_NAME)) is not None
            if not allowed:
                return 303, [(b"location", b"/admin/login"), (b"content-length", b"0")], b""
        return None

    def _authenticate(self, authorization: str | None) -> Principal:
        with session_factory(self.read_engine)() as session:
            return api_keys.authenticate(
                session, authorization, cache_seconds=self.settings.api_key_cache_seconds
            )


async def _send_refusal(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _cookies(scope: Scope) -> dict[str, str]:
    raw = _header(scope, b"cookie") or ""
    cookies: dict[str, str] = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            cookies[name] = value
    return cookies
