"""Statement test helpers: real flows through the API (banks, checks, notices), the fake database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.banks.errors import BankNotFound
from moderation.banks.service import banks
from moderation.db import session_factory
from moderation.matching.service import matcher
from moderation.policy import sor_rules
from tests.factories import post_check
from tests.statements import fake_tdb

Auth = Callable[[str], dict[str, str]]


def assert_valid(statement: dict[str, Any]) -> None:
    """Both the service's validator and the fake database's own rules accept the statement."""
    assert sor_rules.problems(statement) == []
    assert fake_tdb.validate(statement) == {}


def bank_image(engine: Engine, bank: str, data: bytes, action: str = "block") -> None:
    with session_factory(engine)() as session:
        try:
            banks.get(session, bank)
        except BankNotFound:
            banks.create(session, name=bank, action=action, actor="test")
        banks.add_image(session, bank, data, source="upload", note="test", metadata={}, actor="test")
        session.commit()
    matcher.refresh()


def check(client: TestClient, auth: Auth, data: bytes, **metadata: Any) -> dict[str, Any]:
    matcher.refresh()
    response = post_check(client, auth("checker"), data, metadata or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def actioned_notice(client: TestClient, auth: Auth, **body: Any) -> dict[str, Any]:
    """Submit, validate and action a notice through the API; returns the notice detail."""
    payload = {
        "regimes": ["terms-of-service"],
        "reporter": {"name": "Rita Reporter", "email": "rita.reporter@example.org"},
        "fields": {"reason": "harassment", "signature": "/s/ Rita Reporter"},
        **body,
    }
    created = client.post("/v1/notices", json=payload, headers=auth("intake"))
    assert created.status_code == 201, created.text
    url = f"/v1/notices/{created.json()['id']}"
    admin = auth("admin")
    assert client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = client.post(f"{url}/action", json={"reason": "breaks the rules"}, headers=admin)
    assert actioned.status_code == 200, actioned.text
    detail: dict[str, Any] = actioned.json()
    return detail


@pytest.fixture
def tdb() -> Iterator[fake_tdb.FakeTransparencyDatabase]:
    with fake_tdb.FakeTransparencyDatabase() as fake:
        yield fake
