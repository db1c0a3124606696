"""Sign-in under attack (issue 11, findings 1 and 8): the password hash runs outside every write
transaction, the lock-out counter is atomic, every refusal looks the same, and each source address
and username is throttled."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.app import create_app
from moderation.audit.service import audit
from moderation.auth import service as auth_service
from moderation.auth.service import users
from moderation.auth.throttle import SlidingWindow
from moderation.config import Settings
from tests.admin.conftest import form_token
from tests.conftest import PASSWORD

Client = Callable[..., TestClient]


@pytest.fixture
def client_for(settings: Settings) -> Iterator[Client]:
    """`client_for(address, **settings)`: a TestClient for an app with these settings, from this address."""
    opened: list[TestClient] = []

    def _client(address: str = "198.51.100.1", **overrides: Any) -> TestClient:
        app = create_app(settings.model_copy(update=overrides))
        client = TestClient(app, client=(address, 40000), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield _client
    for client in opened:
        client.__exit__(None, None, None)


def _attempt(client: TestClient, username: str, password: str) -> Any:
    token = form_token(client.get("/admin/login").text)
    return client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def _answer(response: Any) -> tuple[int, str]:
    return response.status_code, re.sub(r'value="[^"]+"', "", response.text)


def test_every_refusal_answers_the_same(
    client_for: Client, make_user: Callable[..., str], session: Session
) -> None:
    client = client_for(login_attempts_per_address=100, login_max_failures=2)
    make_user("admin", "ada")
    make_user("admin", "dan")
    make_user("admin", "lee")
    users.set_disabled(session, username="dan", disabled=True, actor="test")
    session.commit()
    for _ in range(2):
        _attempt(client, "lee", "wrong")
    answers = {
        "unknown": _answer(_attempt(client, "nobody", "wrong")),
        "bad password": _answer(_attempt(client, "ada", "wrong")),
        "disabled, right password": _answer(_attempt(client, "dan", PASSWORD)),
        "locked, right password": _answer(_attempt(client, "lee", PASSWORD)),
    }
    assert len(set(answers.values())) == 1, answers
    assert answers["unknown"][0] == 401
    reasons = [e.details["reason"] for e in audit.page(session, action="admin.login_failed", limit=10)]
    assert {"unknown_user", "bad_password", "disabled", "locked"} <= set(reasons)


def test_parallel_wrong_passwords_are_verified_at_most_max_failures_times(
    settings: Settings, engine: Engine, make_user: Callable[..., str], session: Session
) -> None:
    from moderation.auth.sign_in import sign_in

    make_user("admin", "pat")
    limits = settings.model_copy(update={"login_max_failures": 5})

    def attempt(_: int) -> str:
        try:
            sign_in(engine, username="pat", password="wrong", settings=limits)
        except Exception as exc:
            return type(exc).__name__
        return "signed in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert set(outcomes) == {"Unauthenticated"}
    session.expire_all()
    reasons = [e.details["reason"] for e in audit.page(session, action="admin.login_failed", limit=100)]
    assert reasons.count("bad_password") == 5
    assert reasons.count("locked") == 35
    # The right password is refused too while the lock holds.
    with pytest.raises(Exception, match="Sign-in failed"):
        sign_in(engine, username="pat", password=PASSWORD, settings=limits)


def test_one_address_is_throttled_and_cannot_lock_an_account(
    client_for: Client, make_user: Callable[..., str]
) -> None:
    make_user("admin", "vic")
    attacker = client_for("203.0.113.66")
    limit = attacker.app.state.settings.login_attempts_per_address  # type: ignore[attr-defined]
    assert limit < attacker.app.state.settings.login_max_failures  # type: ignore[attr-defined]
    statuses = [_attempt(attacker, "vic", "wrong").status_code for _ in range(limit + 3)]
    assert statuses[:limit] == [401] * limit and set(statuses[limit:]) == {429}
    assert _attempt(attacker, "someone-else", "x").status_code == 429
    victim = client_for("192.0.2.10")
    victim.app = attacker.app  # same process, same throttle and database
    assert _attempt(victim, "vic", PASSWORD).status_code == 303


def test_usernames_are_throttled_across_addresses(settings: Settings) -> None:
    window = SlidingWindow(limit=3, window_seconds=60, clock=lambda: 100.0)
    assert [window.hit("bob") for _ in range(4)] == [True, True, True, False]
    assert window.hit("alice")


@pytest.mark.skipif(
    "os.environ.get('MODERATION_TEST_DATABASE_URL')", reason="SQLite's single write lock (finding 1)"
)
def test_password_hashing_does_not_hold_the_sqlite_write_lock(
    app_client: TestClient, make_user: Callable[..., str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("admin", "sam")
    hashing, release = threading.Event(), threading.Event()
    real = auth_service._password_hasher

    class SlowHasher:
        def verify(self, *args: Any) -> Any:
            hashing.set()
            release.wait(10)
            return real.verify(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(auth_service, "_password_hasher", SlowHasher())
    token = form_token(app_client.get("/admin/login").text)
    worker = threading.Thread(
        target=app_client.post,
        args=("/admin/login",),
        kwargs={"data": {"username": "sam", "password": "wrong", "csrf_token": token}},
    )
    worker.start()
    try:
        assert hashing.wait(10)
        writer = sqlite3.connect(settings.resolved_database_url.split("///", 1)[1], timeout=0.5)
        writer.execute("BEGIN IMMEDIATE")  # "database is locked" if the sign-in held the write lock
        writer.rollback()
        writer.close()
    finally:
        release.set()
        worker.join()
