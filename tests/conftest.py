"""Test harness: a database built by `alembic upgrade heads`, on SQLite by default and on PostgreSQL
when MODERATION_TEST_DATABASE_URL is set; API clients with keys of each role; a freezable clock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlalchemy.orm import Session

from moderation.config import PROJECT_ROOT, Settings, get_settings
from moderation.db import _engine_for, make_engine, session_factory
from moderation.kit import migrations
from moderation.kit.time import set_clock
from tests.email.smtp_server import SMTPServer

PG_URL = os.environ.get("MODERATION_TEST_DATABASE_URL")
SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


def _ensure_pg_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).scalar()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated from scratch with Alembic once per test session."""
    if PG_URL:
        _ensure_pg_database(PG_URL)
        engine = make_engine(PG_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        migrations.upgrade(PG_URL)
        yield PG_URL
        return
    template = tmp_path_factory.mktemp("db") / "template.db"
    migrations.upgrade(f"sqlite:///{template}")
    yield f"sqlite:///{template}"


def _wipe_postgres(engine: Engine) -> None:
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    if not tables:
        return
    with engine.begin() as connection:
        # Replica mode skips the append-only triggers so each test starts from empty tables.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(migrated_url: str, tmp_path: Path) -> str:
    """A clean, fully migrated database for one test."""
    if migrated_url.startswith("postgresql"):
        engine = _engine_for(migrated_url)
        _wipe_postgres(engine)
        return migrated_url
    target = tmp_path / "moderation.db"
    shutil.copyfile(migrated_url.split("///", 1)[1], target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for one test; also exported as environment variables so CLI commands see them."""
    values = {
        "MODERATION_ENV": "test",
        "MODERATION_DATABASE_URL": database_url,
        "MODERATION_DATA_DIR": str(tmp_path / "var"),
        "MODERATION_CLASSIFIER_ENABLED": "false",
        "MODERATION_MATCH_REFRESH_SECONDS": "0.2",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
    set_clock(None)


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return _engine_for(settings.resolved_database_url)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session for service tests; the test commits when it wants the data visible to others.
    On SQLite it uses deferred transactions, so reading in a test never blocks the code under test."""
    engine = make_engine(settings.resolved_database_url, sqlite_immediate=False)
    with session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    from moderation.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_key(engine: Engine) -> Callable[..., str]:
    """Create an API key with a role and return the plain key."""
    from moderation.auth.service import api_keys

    counter = iter(range(1, 10_000))

    def _make(role: str = "admin", name: str | None = None) -> str:
        with session_factory(engine)() as session:
            _, plain = api_keys.create(
                session, name=name or f"{role}-{next(counter)}", role=role, actor="test"
            )
            session.commit()
        return plain

    return _make


@pytest.fixture
def auth(make_key: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    """`auth("checker")` -> headers with a fresh key of that role."""

    def _headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_key(role)}"}

    return _headers


PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(engine: Engine) -> Callable[..., str]:
    """Create a dashboard user with a role (password PASSWORD) and return the username."""
    from moderation.auth.service import users

    def _make(role: str = "admin", username: str | None = None) -> str:
        name = username or f"{role}-user"
        with session_factory(engine)() as session:
            users.create(session, username=name, role=role, password=PASSWORD, actor="test")
            session.commit()
        return name

    return _make


requires_postgres = pytest.mark.skipif(not PG_URL, reason="needs MODERATION_TEST_DATABASE_URL (PostgreSQL)")


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (and MODERATION_* env for subprocesses) that send to the test SMTP server."""
    values = {
        "MODERATION_SMTP_HOST": "127.0.0.1",
        "MODERATION_SMTP_PORT": str(smtp_server.port),
        "MODERATION_SMTP_TIMEOUT_SECONDS": "5",
        "MODERATION_ALERT_FROM": "alerts@moderation.test",
        "MODERATION_ALERT_TO": "oncall@example.test",
        "MODERATION_PUBLIC_URL": "https://moderation.example.test",
        "MODERATION_TEAM_TIMEZONE": "Europe/London",
        "MODERATION_ALERT_ROUTES": '{"ncii": ["ncii@example.test"], "legal-oncall": ["legal@example.test"]}',
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return get_settings()
