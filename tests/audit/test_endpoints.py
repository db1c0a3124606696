"""GET /v1/audit: admin only, filters and keyset paging."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.audit.service import audit


def _seed(session: Session) -> None:
    for i in range(7):
        audit.record(
            session,
            actor=f"user{i % 2}",
            action="x.do" if i % 3 else "y.do",
            subject_type="thing",
            subject_id=i,
        )
    session.commit()


def test_pages_newest_first_with_cursor(
    app_client: TestClient, auth: Callable[[str], dict[str, str]], session: Session
) -> None:
    headers = auth("admin")  # creating the key is itself audited (event 1)
    _seed(session)
    first = app_client.get("/v1/audit", params={"limit": 3}, headers=headers).json()
    assert [e["id"] for e in first["items"]] == [8, 7, 6]
    second = app_client.get(
        "/v1/audit", params={"limit": 3, "before_id": first["next_before_id"]}, headers=headers
    ).json()
    assert [e["id"] for e in second["items"]] == [5, 4, 3]


def test_filters(app_client: TestClient, auth: Callable[[str], dict[str, str]], session: Session) -> None:
    headers = auth("admin")
    _seed(session)
    body = app_client.get("/v1/audit", params={"actor": "user1", "action": "x.do"}, headers=headers).json()
    assert body["items"] and all(e["actor"] == "user1" and e["action"] == "x.do" for e in body["items"])
    body = app_client.get(
        "/v1/audit", params={"subject_type": "thing", "subject_id": "4"}, headers=headers
    ).json()
    assert [e["subject_id"] for e in body["items"]] == ["4"]
    body = app_client.get("/v1/audit", params={"since": "2999-01-01T00:00:00"}, headers=headers).json()
    assert body["items"] == []


def test_bad_query_is_422_with_code(app_client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    response = app_client.get("/v1/audit", params={"limit": 0, "since": "yesterday"}, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
