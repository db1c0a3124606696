"""The DSA Transparency Database API client: batch and single submission, and the puid look-up.

Every call answers an `Answer` (HTTP status and JSON body, or the network error), never raises for
HTTP or network failures, and never follows redirects (the puid look-up answers 302 without a target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: dict[str, Any]
    error: str | None = None

    @property
    def created(self) -> bool:
        return self.status == 201


class TransparencyClient:
    """Talks to `<base_url>/api/v1/...` with the platform's Bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, json: Any = None) -> Answer:
        try:
            response = self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            return Answer(None, {}, f"{type(exc).__name__}: {exc}"[:500])
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        error = (
            None
            if response.status_code in (201, 302)
            else f"HTTP {response.status_code}: {response.text[:300]}"
        )
        return Answer(response.status_code, body, error)

    def submit_batch(self, statements: list[dict[str, Any]]) -> Answer:
        """`POST /api/v1/statements`: 1-100 statements, stored all or none."""
        return self._call("POST", "/api/v1/statements", {"statements": statements})

    def submit_one(self, statement: dict[str, Any]) -> Answer:
        """`POST /api/v1/statement`: one statement."""
        return self._call("POST", "/api/v1/statement", statement)

    def exists(self, puid: str) -> bool | None:
        """Whether the database already holds a statement with this puid; None when it cannot tell."""
        answer = self._call("GET", f"/api/v1/statement/existing-puid/{quote(puid, safe='')}")
        if answer.status == 302:
            return True
        if answer.status == 404:
            return False
        return None
